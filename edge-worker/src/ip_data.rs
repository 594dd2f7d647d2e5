//! What the offline IP data say about a visitor's address, read from `ipdata/ip.pages` in the
//! MODELS bucket (`facegate ip-data build` writes it; `signals::paged` describes it). The whole
//! data would take 18 MB of an isolate the face models already fill, so only the file's head
//! (about 8 KB) is kept per isolate and each lookup makes two ranged reads: the block of rows
//! holding the address, then its record.
//!
//! These facts only tune how much proof a visit needs: a missing or damaged file, or a failed
//! read, gives unknown facts (logged), never a failed session.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;

use facegate_signals::paged::{self, PagedHead};
use facegate_signals::IpFacts;
use worker::{Bucket, Conditional, Env, Range};

/// The file's key in the MODELS bucket (scripts/dev.mjs uploads it there).
pub const KEY: &str = "ipdata/ip.pages";

/// The head, and the etag of the object it came from: every later read is conditional on that
/// etag, so a file replaced under a warm isolate is noticed rather than read with a stale index.
struct Cached {
    head: PagedHead,
    etag: String,
}

thread_local! {
    static HEAD: RefCell<Option<Rc<Cached>>> = const { RefCell::new(None) };
}

/// Why a lookup gave up.
enum Failure {
    /// No file in the bucket: expected before setup, not worth a log line per visit.
    Missing,
    /// The object changed since its head was read.
    Replaced,
    Other(String),
}

/// The facts of `ip`: for a public address, one or two R2 reads of the head on an isolate's
/// first lookup, then two small ranged reads; for any other, none.
pub async fn facts(env: &Env, ip: IpAddr) -> IpFacts {
    if !facegate_signals::is_public(ip) {
        return IpFacts::default();
    }
    let bucket = match env.bucket("MODELS") {
        Ok(b) => b,
        Err(e) => {
            worker::console_error!("ip data: MODELS binding: {e}");
            return paged::unknown(ip);
        }
    };
    // A replaced file: read its new head once and retry.
    for _ in 0..2 {
        match lookup(&bucket, ip).await {
            Ok(facts) => return facts,
            Err(Failure::Replaced) => HEAD.with(|c| *c.borrow_mut() = None),
            Err(Failure::Missing) => break,
            Err(Failure::Other(why)) => {
                worker::console_error!("ip data: {why}");
                // A damaged read may be a stale head's: start afresh next time.
                HEAD.with(|c| *c.borrow_mut() = None);
                break;
            }
        }
    }
    paged::unknown(ip)
}

async fn lookup(bucket: &Bucket, ip: IpAddr) -> Result<IpFacts, Failure> {
    let cached = head(bucket).await?;
    let damaged = |e: facegate_signals::SignalsError| Failure::Other(e.to_string());
    let Some(block_range) = cached.head.block_for(ip) else {
        return Ok(IpFacts::default());
    };
    let block = read(bucket, block_range, Some(&cached.etag)).await?;
    match cached.head.row_in_block(ip, &block).map_err(damaged)? {
        None => Ok(paged::unknown(ip)),
        Some(index) => {
            let record = read(bucket, cached.head.record_range(index), Some(&cached.etag)).await?;
            cached.head.decode_record(&record).map_err(damaged)
        }
    }
}

/// The isolate's head, read on first use: the fixed header, which gives the head's length,
/// then the head itself.
async fn head(bucket: &Bucket) -> Result<Rc<Cached>, Failure> {
    if let Some(c) = HEAD.with(|c| c.borrow().clone()) {
        return Ok(c);
    }
    let damaged = |e: facegate_signals::SignalsError| Failure::Other(e.to_string());
    let (header, etag, size) = read_object(bucket, (0, paged::HEADER_LEN as u32), None).await?;
    let head_len = PagedHead::head_len(&header).map_err(damaged)?;
    let head_len = u32::try_from(head_len).map_err(|_| Failure::Other("head too long".into()))?;
    let (bytes, _, _) = read_object(bucket, (0, head_len), Some(&etag)).await?;
    let head = PagedHead::parse(&bytes).map_err(damaged)?;
    if head.file_len() != size {
        return Err(Failure::Other(format!(
            "{KEY} is {size} bytes, its header says {}",
            head.file_len()
        )));
    }
    let cached = Rc::new(Cached { head, etag });
    HEAD.with(|c| *c.borrow_mut() = Some(cached.clone()));
    Ok(cached)
}

async fn read(bucket: &Bucket, range: (u64, u32), etag: Option<&str>) -> Result<Vec<u8>, Failure> {
    Ok(read_object(bucket, range, etag).await?.0)
}

/// Bytes `range` (offset, length) of the file, with its etag and size; when `etag` is given
/// and the object's differs, `Replaced`.
async fn read_object(
    bucket: &Bucket,
    (offset, length): (u64, u32),
    etag: Option<&str>,
) -> Result<(Vec<u8>, String, u64), Failure> {
    let mut get = bucket.get(KEY).range(Range::OffsetWithLength {
        offset,
        length: u64::from(length),
    });
    if let Some(etag) = etag {
        get = get.only_if(Conditional {
            etag_matches: Some(etag.to_owned()),
            ..Conditional::default()
        });
    }
    let object = get
        .execute()
        .await
        .map_err(|e| Failure::Other(format!("R2 read of {KEY}: {e}")))?
        .ok_or(Failure::Missing)?;
    // A failed condition returns the object's metadata without a body.
    let Some(body) = object.body() else {
        return Err(Failure::Replaced);
    };
    let bytes = body
        .bytes()
        .await
        .map_err(|e| Failure::Other(format!("R2 body of {KEY}: {e}")))?;
    if bytes.len() != length as usize {
        return Err(Failure::Other(format!(
            "{KEY}: asked for {length} bytes at {offset}, got {}",
            bytes.len()
        )));
    }
    Ok((bytes, object.etag(), object.size()))
}
