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
