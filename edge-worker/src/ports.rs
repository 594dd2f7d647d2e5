//! Time and randomness from the Workers runtime, behind the core's `Clock` and `Ids` ports.

use facegate_sessions::{Clock, Ids};

pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> i64 {
        (worker::Date::now().as_millis() / 1000) as i64
    }
}

pub struct WorkerIds;

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // crypto.getRandomValues cannot fail for these sizes; a failure would leave zeros, which
    // the unique indexes on ids and tokens would then refuse.
    let _ = getrandom::fill(&mut bytes);
    bytes
}

impl Ids for WorkerIds {
    fn uuid(&self) -> String {
        uuid_v4(random())
    }

    fn token(&self) -> String {
        hex::encode(random::<24>())
    }

    fn nonce(&self) -> [u8; 12] {
        random()
    }

    fn below(&self, n: u32) -> u32 {
        // 64 random bits reduced modulo a small n: the bias is below 2^-58.
        (u64::from_le_bytes(random()) % u64::from(n.max(1))) as u32
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
