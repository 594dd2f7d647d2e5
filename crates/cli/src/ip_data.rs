//! `facegate ip-data`: makes the offline IP data files and measures them.
//!
//! `build` compiles `@ip-location-db/asn`'s CSVs into the ASN range table and copies the
//! country MMDB beside it (scripts/setup.sh runs it on the npm packages); `import` turns an
//! operator's Tor exit, VPN and data-centre lists into the flag table; both then join the three
//! into `ip.pages`, the Worker's paged copy. `lookup` shows what the service will say of an
//! address; `bench` prints lookup time and the memory the data take, whole and paged.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Subcommand;
use facegate_signals::{asn, flags, paged, AsnTable, CountryDb, FlagTable, IpData, PagedHead};

pub const ASN_FILE: &str = "asn.bin";
pub const FLAGS_FILE: &str = "flags.bin";
pub const COUNTRY_FILE: &str = "country.mmdb";
/// The three joined into one file the Worker reads in pages from R2 (`signals::paged`).
pub const PAGES_FILE: &str = "ip.pages";

#[derive(Subcommand)]
pub enum IpDataAction {
    /// Compile the ASN table and copy the country database into `--out`.
    Build {
        /// The unpacked `@ip-location-db/asn` package (asn-ipv4.csv, asn-ipv6.csv).
        #[arg(long)]
        asn_dir: PathBuf,
        /// `geo-whois-asn-country.mmdb` from `@ip-location-db/geo-whois-asn-country-mmdb`.
        #[arg(long)]
        country: PathBuf,
        /// More data-centre ASNs, one per line (added to the built-in list).
        #[arg(long)]
        datacenter_asns: Option<PathBuf>,
        #[arg(long, default_value = "models/ipdata")]
        out: PathBuf,
    },
    /// Replace the flag table with these lists (addresses or CIDRs, one per line).
    Import {
        /// Tor exit addresses (e.g. https://check.torproject.org/torbulkexitlist).
        #[arg(long)]
        tor: Vec<PathBuf>,
        /// VPN ranges (e.g. X4BNet's lists_vpn `ipv4.txt`).
        #[arg(long)]
        vpn: Vec<PathBuf>,
        /// Extra data-centre ranges.
        #[arg(long)]
        datacenter: Vec<PathBuf>,
        #[arg(long, default_value = "models/ipdata")]
        out: PathBuf,
    },
    /// What the data say about addresses (JSON lines).
    Lookup {
        ips: Vec<IpAddr>,
        #[arg(long, default_value = "models/ipdata")]
        dir: PathBuf,
    },
    /// Lookup time (p50/p99 over random public addresses) and memory held by the data.
    Bench {
        #[arg(long, default_value_t = 200_000)]
        lookups: usize,
        #[arg(long, default_value = "models/ipdata")]
        dir: PathBuf,
    },
}

pub fn run(action: IpDataAction) -> Result<(), String> {
    match action {
        IpDataAction::Build {
            asn_dir,
            country,
            datacenter_asns,
            out,
        } => {
            let mut dcs =
                asn::parse_asn_list(asn::DEFAULT_DATA_CENTRE_ASNS).map_err(|e| e.to_string())?;
            if let Some(p) = datacenter_asns {
                dcs.extend(
                    asn::parse_asn_list(&read_text(&p)?)
                        .map_err(|e| format!("{}: {e}", p.display()))?,
                );
            }
            let table = asn::build(
                &read_text(&asn_dir.join("asn-ipv4.csv"))?,
                &read_text(&asn_dir.join("asn-ipv6.csv"))?,
                &dcs,
            )
            .map_err(|e| format!("{}: {e}", asn_dir.display()))?;
            let parsed = AsnTable::parse(table.clone()).map_err(|e| e.to_string())?;
            let mmdb = read(&country)?;
            CountryDb::parse(mmdb.clone()).map_err(|e| format!("{}: {e}", country.display()))?;
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            write(&out.join(ASN_FILE), &table)?;
            write(&out.join(COUNTRY_FILE), &mmdb)?;
            if !out.join(FLAGS_FILE).exists() {
                // No imports yet: an empty table, so the service finds every file it expects.
                write(&out.join(FLAGS_FILE), &flags::build(Vec::new()))?;
            }
            write_pages(&out)?;
            let (v4, v6, networks) = parsed.counts();
            eprintln!(
                "ip-data: {v4} IPv4 and {v6} IPv6 ranges over {networks} networks ({:.1} MB), country database {:.1} MB, in {}",
                mb(table.len()),
                mb(mmdb.len()),
                out.display()
            );
            Ok(())
        }
        IpDataAction::Import {
            tor,
            vpn,
            datacenter,
            out,
        } => {
            let mut lists = Vec::new();
            let mut counts = Vec::new();
            for (files, flag, what) in [
                (tor, flags::TOR, "Tor"),
                (vpn, flags::VPN, "VPN"),
                (datacenter, flags::DATA_CENTER, "data-centre"),
            ] {
                let mut n = 0;
                for p in files {
                    let list = flags::parse_list(&read_text(&p)?, flag)
                        .map_err(|e| format!("{}: {e}", p.display()))?;
                    n += list.0.len() + list.1.len();
                    lists.push(list);
                }
                counts.push(format!("{n} {what}"));
            }
            let table = flags::build(lists);
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            write(&out.join(FLAGS_FILE), &table)?;
            // The Worker reads the paged file only: the imports must land in it too.
            if out.join(ASN_FILE).exists() || out.join(COUNTRY_FILE).exists() {
                write_pages(&out)?;
            }
            eprintln!(
                "ip-data: imported {} entries into {}",
                counts.join(", "),
                out.join(FLAGS_FILE).display()
            );
            Ok(())
        }
        IpDataAction::Lookup { ips, dir } => {
            let data = load(&dir)?;
            for ip in ips {
                let facts = data.facts(ip);
                let line = serde_json::json!({"ip": ip, "facts": facts, "is_vpn_or_tor": facts.is_vpn_or_tor()});
                println!("{line}");
            }
            Ok(())
        }
        IpDataAction::Bench { lookups, dir } => bench(&dir, lookups),
    }
}

/// Loads whichever of the three files exist in `dir`.
pub fn load(dir: &Path) -> Result<IpData, String> {
    let optional = |name: &str| -> Result<Option<Vec<u8>>, String> {
        let p = dir.join(name);
        p.exists().then(|| read(&p)).transpose()
    };
    let data = IpData {
        asn: optional(ASN_FILE)?
            .map(AsnTable::parse)
            .transpose()
            .map_err(|e| e.to_string())?,
        flags: optional(FLAGS_FILE)?
            .map(FlagTable::parse)
            .transpose()
            .map_err(|e| e.to_string())?,
        country: optional(COUNTRY_FILE)?
            .map(CountryDb::parse)
            .transpose()
            .map_err(|e| e.to_string())?,
    };
    if data.asn.is_none() && data.country.is_none() {
        return Err(format!(
            "no IP data in {} (run `npm run setup`)",
            dir.display()
        ));
    }
    Ok(data)
}

/// Joins the files in `dir` into `ip.pages`.
pub fn write_pages(dir: &Path) -> Result<(), String> {
    let pages = paged::build(&load(dir)?).map_err(|e| e.to_string())?;
    let head = PagedHead::parse(&pages).map_err(|e| e.to_string())?;
    write(&dir.join(PAGES_FILE), &pages)?;
    let (v4, v6, records) = head.counts();
    eprintln!(
        "ip-data: {} ({v4} IPv4 and {v6} IPv6 rows, {records} records, {:.1} MB; head {:.1} KB)",
        dir.join(PAGES_FILE).display(),
        mb(pages.len()),
        head.memory_bytes() as f64 / 1024.0
    );
    Ok(())
}

fn bench(dir: &Path, lookups: usize) -> Result<(), String> {
    let started = Instant::now();
    let data = load(dir)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    // Addresses from a fixed xorshift sequence: repeatable, spread over the whole space (half
    // IPv4, half IPv6 inside 2000::/3), so every lookup walks a full binary search.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let ips: Vec<IpAddr> = (0..lookups)
        .map(|i| {
            if i % 2 == 0 {
                IpAddr::from(std::net::Ipv4Addr::from(next() as u32))
            } else {
                let hi = (next() & 0x1fff_ffff_ffff_ffff) | 0x2000_0000_0000_0000;
                IpAddr::from(std::net::Ipv6Addr::from(
                    (u128::from(hi) << 64) | u128::from(next()),
                ))
            }
        })
        .collect();
    let mut times = Vec::with_capacity(lookups);
    let (mut found, mut dc) = (0usize, 0usize);
    for &ip in &ips {
        let t = Instant::now();
        let facts = std::hint::black_box(data.facts(ip));
        times.push(t.elapsed().as_nanos() as f64 / 1e3);
        found += usize::from(facts.asn.is_some() || facts.country_code.is_some());
        dc += usize::from(facts.is_data_center);
    }
    let pct = percentiles(&mut times);
    // The paged file as the Worker reads it, with its two ranged reads served from memory:
    // what remains is the decoding and checking the Worker pays beside the R2 round trips.
    let pages_path = dir.join(PAGES_FILE);
    let pages = match pages_path.exists() {
        true => read(&pages_path)?,
        false => paged::build(&data).map_err(|e| e.to_string())?,
    };
    let head = PagedHead::parse(&pages).map_err(|e| e.to_string())?;
    let mut paged_times = Vec::with_capacity(lookups);
    let started = Instant::now();
    for &ip in &ips {
        let t = Instant::now();
        std::hint::black_box(head.facts_in(&pages, ip).map_err(|e| e.to_string())?);
        paged_times.push(t.elapsed().as_nanos() as f64 / 1e3);
    }
    let per_second = lookups as f64 / started.elapsed().as_secs_f64();
    let paged_pct = percentiles(&mut paged_times);
    let round = |x: f64, digits: i32| (x * 10f64.powi(digits)).round() / 10f64.powi(digits);
    let (v4, v6, records) = head.counts();
    let report = serde_json::json!({
        "lookups": lookups,
        "known": found,
        "data_center": dc,
        "load_ms": (load_ms * 10.0).round() / 10.0,
        "lookup_us_p50": (pct(0.50) * 100.0).round() / 100.0,
        "lookup_us_p99": (pct(0.99) * 100.0).round() / 100.0,
        "memory_mb": (mb(data.memory_bytes()) * 10.0).round() / 10.0,
        "paged": {
            "file_mb": round(mb(pages.len()), 1),
            "head_kb": round(head.memory_bytes() as f64 / 1024.0, 1),
            "rows_per_block": head.rows_per_block(),
            "block_kb_max": round((head.rows_per_block() * 20) as f64 / 1024.0, 1),
            "record_bytes": head.record_size(),
            "rows": {"ipv4": v4, "ipv6": v6},
            "records": records,
            "lookup_us_p50": round(paged_pct(0.50), 2),
            "lookup_us_p99": round(paged_pct(0.99), 2),
            "lookups_per_s": per_second.round(),
        },
    });
    println!("{report}");
    Ok(())
}

/// Sorts the times; the closure gives the p-th percentile.
fn percentiles(times: &mut [f64]) -> impl Fn(f64) -> f64 + '_ {
    times.sort_by(f64::total_cmp);
    |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)]
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn read(p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn read_text(p: &Path) -> Result<String, String> {
    String::from_utf8(read(p)?).map_err(|_| format!("{}: not UTF-8 text", p.display()))
}

fn write(p: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(p, bytes).map_err(|e| format!("{}: {e}", p.display()))
}
