//! Time and randomness from the Workers runtime, behind the core's `Clock` and `Ids` ports.

use facegate_sessions::{Clock, Ids, RandomnessUnavailable};

use std::sync::atomic::{AtomicI64, Ordering};

pub struct WorkerClock;

/// Development only: seconds this isolate's clock runs ahead of the real one, so a load bench
/// can drive minutes or hours of webhook retries in seconds. Zero unless the development-only
/// `FACEGATE_DEV_CLOCK` var let a housekeeping call move it.
static DEV_OFFSET: AtomicI64 = AtomicI64::new(0);

fn real_now() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}

impl Clock for WorkerClock {
    fn now(&self) -> i64 {
        real_now() + DEV_OFFSET.load(Ordering::Relaxed)
    }
    fn now_ms(&self) -> i64 {
        worker::Date::now().as_millis() as i64 + DEV_OFFSET.load(Ordering::Relaxed) * 1000
    }
}

/// Moves the clock forward so that it reads `to` now; never back (leases, backoffs and
/// `updated_at` would otherwise see time reverse).
pub fn advance_dev_clock(to: i64) {
    DEV_OFFSET.fetch_max(to - real_now(), Ordering::Relaxed);
}

pub struct WorkerIds;

/// `crypto.getRandomValues`, or an error: zeros in place of random bytes would be a repeated
/// AES-GCM nonce under the template key, or a guessable token.
fn random<const N: usize>() -> Result<[u8; N], RandomnessUnavailable> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| {
        worker::console_error!("getrandom failed: {e}");
        RandomnessUnavailable
    })?;
    Ok(bytes)
}

impl Ids for WorkerIds {
    fn uuid(&self) -> Result<String, RandomnessUnavailable> {
        Ok(uuid_v4(random()?))
    }

    fn token(&self) -> Result<String, RandomnessUnavailable> {
        Ok(hex::encode(random::<24>()?))
    }

    fn nonce(&self) -> Result<[u8; 12], RandomnessUnavailable> {
        random()
    }

    fn below(&self, n: u32) -> Result<u32, RandomnessUnavailable> {
        // 64 random bits reduced modulo a small n: the bias is below 2^-58.
        Ok((u64::from_le_bytes(random()?) % u64::from(n.max(1))) as u32)
    }
}

pub fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid_has_version_and_variant_bits() {
        let u = super::uuid_v4([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    }
}
