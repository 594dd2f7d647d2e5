//! `facegate ip-data` on the real data setup compiled (models/ipdata, from the pinned npm
//! packages): clouds are data centres, a home ISP isn't, imports flag Tor and VPN addresses,
//! and damaged input fails with a message, not a panic.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn facegate(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_facegate"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("run facegate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lookup(dir: &str, ips: &[&str]) -> Vec<Value> {
    let mut args = vec!["ip-data", "lookup", "--dir", dir];
    args.extend_from_slice(ips);
    let (ok, out, err) = facegate(&args);
    assert!(ok, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[test]
fn clouds_are_data_centres_and_home_networks_are_not() {
    assert!(
        workspace().join("models/ipdata/asn.bin").exists(),
        "models/ipdata is missing: run `npm run setup`"
    );
    let got = lookup(
        "models/ipdata",
        &[
            "3.5.140.2",
            "52.95.110.1",
            "81.2.69.142",
            "2600:1f18::1",
            "192.168.1.10",
        ],
    );
    let facts = |i: usize| &got[i]["facts"];
    // AWS ranges, IPv4 and IPv6.
    for i in [0, 1, 3] {
        assert_eq!(facts(i)["is_data_center"], true, "{}", got[i]);
        assert_eq!(facts(i)["organization"], "Amazon.com, Inc.", "{}", got[i]);
    }
    // Andrews & Arnold, a UK home broadband ISP.
    assert_eq!(facts(2)["is_data_center"], false);
    assert_eq!(facts(2)["country_code"], "GB");
    assert_eq!(facts(2)["country"], "United Kingdom");
    assert_eq!(facts(2)["asn"], 20712);
    // A private address has no owner: nothing is looked up.
    assert_eq!(facts(4)["public"], false);
    assert_eq!(facts(4)["asn"], Value::Null);
}

#[test]
fn imported_lists_flag_tor_and_vpn_and_bad_lines_are_refused() {
    let dir = std::env::temp_dir().join(format!("facegate-ipdata-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    for f in ["asn.bin", "country.mmdb"] {
        std::fs::copy(workspace().join("models/ipdata").join(f), dir.join(f)).expect("copy");
    }
    let (tor, vpn, bad) = (
        dir.join("tor.txt"),
        dir.join("vpn.txt"),
        dir.join("bad.txt"),
    );
    std::fs::write(&tor, "# Tor exits\n185.220.101.1\n").expect("write");
    std::fs::write(&vpn, "81.2.69.0/24\n2a0d:5600::/32\n").expect("write");
    std::fs::write(&bad, "185.220.101.1\n185.220.101.1/40\n").expect("write");
    let d = dir.to_str().expect("utf-8 path");
    let (ok, _, err) = facegate(&[
        "ip-data",
        "import",
        "--tor",
        tor.to_str().unwrap(),
        "--vpn",
        vpn.to_str().unwrap(),
        "--out",
        d,
    ]);
    assert!(ok, "{err}");
    let got = lookup(
        d,
        &["185.220.101.1", "81.2.69.142", "2a0d:5600:1::1", "8.8.8.8"],
    );
    let flag = |i: usize| {
        (
            got[i]["facts"]["is_tor"].clone(),
            got[i]["facts"]["is_vpn"].clone(),
            got[i]["is_vpn_or_tor"].clone(),
        )
    };
    assert_eq!(flag(0), (true.into(), false.into(), true.into()));
    assert_eq!(flag(1), (false.into(), true.into(), true.into()));
    assert_eq!(flag(2), (false.into(), true.into(), true.into()));
    assert_eq!(flag(3), (false.into(), false.into(), false.into()));
    // A bad line names the file and line, and the table in place is kept.
    let (ok, _, err) = facegate(&[
        "ip-data",
        "import",
        "--tor",
        bad.to_str().unwrap(),
        "--out",
        d,
    ]);
    assert!(!ok);
    assert!(err.contains("bad.txt") && err.contains("line 2"), "{err}");
    assert_eq!(lookup(d, &["185.220.101.1"])[0]["facts"]["is_tor"], true);
    // A damaged table is refused when loaded.
    std::fs::write(dir.join("asn.bin"), b"FGIPASN1\xff\xff\xff\xff").expect("write");
    let (ok, _, err) = facegate(&["ip-data", "lookup", "--dir", d, "8.8.8.8"]);
    assert!(!ok && err.contains("damaged"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The Worker's paged file answers as the whole tables do, on the real data with imports:
/// 20,000 seeded addresses, half uniform over the public space, half at range edges (where an
/// off-by-one or a block boundary would show).
#[test]
fn the_paged_file_answers_as_the_tables_do() {
    use facegate_signals::{paged, AsnTable, CountryDb, FlagTable, IpData, PagedHead};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    let dir = std::env::temp_dir().join(format!("facegate-ipdata-pages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    for f in ["asn.bin", "country.mmdb"] {
        std::fs::copy(workspace().join("models/ipdata").join(f), dir.join(f)).expect("copy");
    }
    let (tor, vpn) = (dir.join("tor.txt"), dir.join("vpn.txt"));
    std::fs::write(&tor, "185.220.101.1\n185.220.101.7\n2a0b:f4c0::/32\n").expect("write");
    std::fs::write(&vpn, "81.2.69.0/24\n185.220.101.0/24\n").expect("write");
    let d = dir.to_str().expect("utf-8 path");
    let (ok, _, err) = facegate(&[
        "ip-data",
        "import",
        "--tor",
        tor.to_str().unwrap(),
        "--vpn",
        vpn.to_str().unwrap(),
        "--out",
        d,
    ]);
    assert!(ok, "{err}");
    let read = |f: &str| std::fs::read(dir.join(f)).expect(f);
    let data = IpData {
        asn: Some(AsnTable::parse(read("asn.bin")).expect("asn")),
        flags: Some(FlagTable::parse(read("flags.bin")).expect("flags")),
        country: Some(CountryDb::parse(read("country.mmdb")).expect("country")),
    };
    let pages = read("ip.pages");
    let head_len = PagedHead::head_len(&pages[..paged::HEADER_LEN]).expect("header");
    let head = PagedHead::parse(&pages[..head_len]).expect("head");
    assert!(
        head.memory_bytes() < 64 * 1024,
        "head {} bytes",
        head.memory_bytes()
    );

    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (asn4, asn6) = data.asn.as_ref().unwrap().ranges();
    let (c4, c6) = data
        .country
        .as_ref()
        .unwrap()
        .ranges()
        .expect("country ranges");
    let mut ips: Vec<IpAddr> = Vec::new();
    while ips.len() < 20_000 {
        let r = next();
        let ip = match ips.len() % 8 {
            0 => IpAddr::from(Ipv4Addr::from(r as u32)),
            1 => {
                let hi = (r & 0x1fff_ffff_ffff_ffff) | 0x2000_0000_0000_0000;
                IpAddr::from(Ipv6Addr::from((u128::from(hi) << 64) | u128::from(next())))
            }
            2 | 3 => {
                let x = asn4[(r as usize) % asn4.len()];
                IpAddr::from(Ipv4Addr::from(
                    [x.start, x.end, x.end.wrapping_add(1)][(r >> 40) as usize % 3],
                ))
            }
            4 => {
                let x = asn6[(r as usize) % asn6.len()];
                let hi = [x.start, x.end, x.end.wrapping_add(1)][(r >> 40) as usize % 3];
                IpAddr::from(Ipv6Addr::from((u128::from(hi) << 64) | u128::from(next())))
            }
            5 => {
                let x = c4[(r as usize) % c4.len()];
                IpAddr::from(Ipv4Addr::from(
                    [x.start, x.end, x.end.wrapping_add(1)][(r >> 40) as usize % 3],
                ))
            }
            // The country data split some IPv6 blocks below /64: their edges too.
            6 | 7 => {
                let x = c6[(r as usize) % c6.len()];
                IpAddr::from(Ipv6Addr::from(
                    [x.start, x.end, x.end.wrapping_add(1)][(r >> 40) as usize % 3],
                ))
            }
            _ => unreachable!(),
        };
        if facegate_signals::is_public(ip) {
            ips.push(ip);
        }
    }
    ips.extend(
        ["185.220.101.1", "2a0b:f4c0:1::1", "::ffff:81.2.69.142"]
            .map(|s| s.parse::<IpAddr>().unwrap()),
    );
    let (mut compared, mut known, mut cut) = (0, 0, 0);
    for ip in ips {
        let (at, len) = head.block_for(ip).expect("public address");
        let block = &pages[at as usize..(at + u64::from(len)) as usize];
        let got = match head.row_in_block(ip, block).expect("block") {
            None => paged::unknown(ip),
            Some(r) => {
                let (at, len) = head.record_range(r);
                head.decode_record(&pages[at as usize..(at + u64::from(len)) as usize])
                    .expect("record")
            }
        };
        let mut want = data.facts(ip);
        if let Some(name) = &want.organization {
            let short = paged::truncate(name, paged::NAME_MAX);
            cut += usize::from(short.len() < name.len());
            want.organization = Some(short.to_owned());
        }
        assert_eq!(got, want, "{ip}");
        compared += 1;
        known += usize::from(got.asn.is_some() || got.country_code.is_some());
    }
    eprintln!(
        "paged = tables for {compared} addresses ({known} known, {cut} names cut to {} bytes)",
        paged::NAME_MAX
    );
    assert!(known > compared / 2, "{known} of {compared} known");
    std::fs::remove_dir_all(&dir).ok();
}
