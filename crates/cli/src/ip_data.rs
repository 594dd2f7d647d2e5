//! `facegate ip-data`: makes the offline IP data files and measures them.
//!
//! `build` compiles `@ip-location-db/asn`'s CSVs into the ASN range table and copies the
//! country MMDB beside it (scripts/setup.sh runs it on the npm packages); `import` turns an
//! operator's Tor exit, VPN and data-centre lists into the flag table; `lookup` shows what the
//! service will say of an address; `bench` prints lookup time and the memory the data take.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Subcommand;
use facegate_signals::{asn, flags, AsnTable, CountryDb, FlagTable, IpData};

pub const ASN_FILE: &str = "asn.bin";
pub const FLAGS_FILE: &str = "flags.bin";
pub const COUNTRY_FILE: &str = "country.mmdb";

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
    let mut times = Vec::with_capacity(lookups);
    let (mut found, mut dc) = (0usize, 0usize);
    for i in 0..lookups {
        let ip: IpAddr = if i % 2 == 0 {
            IpAddr::from(std::net::Ipv4Addr::from(next() as u32))
        } else {
            let hi = (next() & 0x1fff_ffff_ffff_ffff) | 0x2000_0000_0000_0000;
            IpAddr::from(std::net::Ipv6Addr::from(
                (u128::from(hi) << 64) | u128::from(next()),
            ))
        };
        let t = Instant::now();
        let facts = std::hint::black_box(data.facts(ip));
        times.push(t.elapsed().as_nanos() as f64 / 1e3);
        found += usize::from(facts.asn.is_some() || facts.country_code.is_some());
        dc += usize::from(facts.is_data_center);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    let report = serde_json::json!({
        "lookups": lookups,
        "known": found,
        "data_center": dc,
        "load_ms": (load_ms * 10.0).round() / 10.0,
        "lookup_us_p50": (pct(0.50) * 100.0).round() / 100.0,
        "lookup_us_p99": (pct(0.99) * 100.0).round() / 100.0,
        "memory_mb": (mb(data.memory_bytes()) * 10.0).round() / 10.0,
    });
    println!("{report}");
    Ok(())
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
