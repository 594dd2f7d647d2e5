use super::*;
use crate::{asn, AsnTable, FlagTable};

const V4: &str = "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n\
                  3.0.0.0,3.127.255.255,16509,\"Amazon.com, Inc.\"\n\
                  81.2.69.0,81.2.69.255,20712,Andrews & Arnold Ltd\n\
                  185.1.1.0,185.1.1.255,64500,\"Ünïcödé Hosting GmbH mit einem sehr sehr langen Namen, der nicht passt\"\n";
const V6: &str = "2600:1f00::,2600:1fff:ffff:ffff:ffff:ffff:ffff:ffff,16509,\"Amazon.com, Inc.\"\n";

/// Tables with many small flagged ranges, so a block of 4 rows leaves many blocks.
fn data() -> IpData {
    let dcs = asn::parse_asn_list(asn::DEFAULT_DATA_CENTRE_ASNS).expect("list");
    let asn = AsnTable::parse(asn::build(V4, V6, &dcs).expect("build")).expect("asn");
    let mut tor = String::new();
    for i in 0..40u32 {
        tor.push_str(&format!(
            "3.0.{i}.{}\n2600:1f00:0:{:x}::/64\n",
            i * 3,
            i * 2
        ));
    }
    let lists = vec![
        flags::parse_list(&tor, flags::TOR).expect("tor"),
        flags::parse_list("81.2.69.128/25\n9.9.9.0/24\n", flags::VPN).expect("vpn"),
        flags::parse_list("9.9.9.9\n", flags::DATA_CENTER).expect("dc"),
    ];
    IpData {
        asn: Some(asn),
        flags: Some(FlagTable::parse(flags::build(lists)).expect("flags")),
        country: None,
    }
}

fn probes(data: &IpData) -> Vec<IpAddr> {
    let mut ips = Vec::new();
    let (asn4, asn6) = data.asn.as_ref().expect("asn").ranges();
    let (fl4, fl6) = data.flags.as_ref().expect("flags").ranges();
    for r in asn4.iter().chain(&fl4) {
        for k in [
            r.start.wrapping_sub(1),
            r.start,
            r.end,
            r.end.wrapping_add(1),
        ] {
            ips.push(IpAddr::from(std::net::Ipv4Addr::from(k)));
            ips.push(IpAddr::from(std::net::Ipv4Addr::from(k).to_ipv6_mapped()));
        }
    }
    for r in asn6.iter().chain(&fl6) {
        for hi in [
            r.start.wrapping_sub(1),
            r.start,
            r.end,
            r.end.wrapping_add(1),
        ] {
            for lo in [0, 1, u64::MAX] {
                let a = u128::from(hi) << 64 | u128::from(lo);
                ips.push(IpAddr::from(std::net::Ipv6Addr::from(a)));
            }
        }
    }
    ips.extend(
        [
            "8.8.8.8",
            "10.0.0.1",
            "::1",
            "2001:db8::1",
            "::ffff:10.1.1.1",
        ]
        .map(|s| s.parse::<IpAddr>().expect("ip")),
    );
    ips
}

#[test]
fn paged_lookups_match_the_tables() {
    let data = data();
    for rows_per_block in [1, 4, 1024] {
        let file = build_with(&data, rows_per_block).expect("build");
        let head_len = PagedHead::head_len(&file[..HEADER_LEN]).expect("header");
        let head = PagedHead::parse(&file[..head_len]).expect("head");
        assert_eq!(head.file_len(), file.len() as u64);
        if rows_per_block == 4 {
            assert!(
                head.blocks4() > 20 && head.blocks6() > 20,
                "{:?}",
                head.counts()
            );
        }
        for ip in probes(&data) {
            let mut want = data.facts(ip);
            // Names are cut to NAME_MAX bytes at a character boundary.
            want.organization = want.organization.map(|n| truncate(&n, NAME_MAX).to_owned());
            assert_eq!(
                head.facts_in(&file, ip).expect("lookup"),
                want,
                "{ip} / {rows_per_block}"
            );
        }
    }
    let file = build(&data).expect("build");
    let head = PagedHead::parse(&file).expect("head");
    let long = head
        .facts_in(&file, "185.1.1.1".parse().expect("ip"))
        .expect("lookup");
    assert_eq!(
        long.organization.as_deref(),
        Some(truncate(
            "Ünïcödé Hosting GmbH mit einem sehr sehr langen Namen, der nicht passt",
            64
        ))
    );
    assert!(long
        .organization
        .is_some_and(|n| n.len() <= NAME_MAX && n.starts_with("Ünïcödé")));
    // Identical answers share a record: the Tor-flagged AWS addresses, plain AWS, etc.
    assert!(head.counts().2 < 10, "{:?}", head.counts());
}

#[test]
fn block_edges_and_gaps() {
    let data = data();
    let file = build_with(&data, 4).expect("build");
    let head = PagedHead::parse(&file).expect("head");
    // Every block's first row (the index key), the address before it (the previous block's
    // last row) and the one after.
    for b in 0..head.blocks4() {
        let k = head.key4(b);
        for k in [k.saturating_sub(1), k, k.saturating_add(1)] {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(k));
            let mut want = data.facts(ip);
            want.organization = want.organization.map(|n| truncate(&n, NAME_MAX).to_owned());
            assert_eq!(head.facts_in(&file, ip).expect("lookup"), want, "{ip}");
        }
    }
    for b in 0..head.blocks6() {
        let k = head.key6(b);
        for k in [k.saturating_sub(1), k, k.saturating_add(1)] {
            let ip = IpAddr::from(std::net::Ipv6Addr::from(k));
            assert_eq!(
                head.facts_in(&file, ip).expect("lookup"),
                data.facts(ip),
                "{ip}"
            );
        }
    }
    let at = |s: &str| {
        head.facts_in(&file, s.parse().expect("ip"))
            .expect("lookup")
    };
    // Between ranges: public, nothing known. Not public: not looked up at all.
    assert_eq!(at("8.8.8.8"), unknown("8.8.8.8".parse().expect("ip")));
    assert!(at("8.8.8.8").public);
    assert_eq!(head.block_for("192.168.1.1".parse().expect("ip")), None);
    assert_eq!(at("10.0.0.1"), IpFacts::default());
    // An IPv4-mapped IPv6 address is its IPv4 client.
    assert_eq!(at("::ffff:81.2.69.200"), at("81.2.69.200"));
    assert!(at("81.2.69.200").is_vpn && !at("81.2.69.1").is_vpn);
    let dc = at("9.9.9.9");
    assert!(dc.is_data_center && dc.is_vpn && dc.asn.is_none());
}

#[test]
fn damaged_files_are_refused() {
    let data = data();
    let file = build_with(&data, 4).expect("build");
    let head = PagedHead::parse(&file).expect("head");
    let head_len = PagedHead::head_len(&file).expect("len");
    assert!(PagedHead::parse(&file[..head_len - 1]).is_err());
    assert!(PagedHead::parse(&file[..HEADER_LEN - 1]).is_err());
    let mut other = file.clone();
    other[0] = b'X';
    assert!(PagedHead::parse(&other).is_err());
    let mut version = file.clone();
    version[8] = 9;
    assert!(PagedHead::parse(&version).is_err());
    let mut unsorted = file.clone();
    unsorted.copy_within(HEADER_LEN + 4..HEADER_LEN + 8, HEADER_LEN + 8);
    assert!(PagedHead::parse(&unsorted).is_err());
    let mut huge = file.clone();
    huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(PagedHead::parse(&huge).is_err());

    let ip: IpAddr = "3.0.5.15".parse().expect("ip");
    let (at, len) = head.block_for(ip).expect("block");
    let (at, len) = (at as usize, len as usize);
    let block = &file[at..at + len];
    assert!(
        head.row_in_block(ip, &block[..len - 1]).is_err(),
        "short block"
    );
    assert!(
        head.row_in_block(ip, &file[at + 8..at + 8 + len]).is_err(),
        "another block"
    );
    let mut wild = block.to_vec();
    for row in wild.chunks_mut(V4_ROW) {
        row[4..].copy_from_slice(&(u32::MAX - 1).to_le_bytes());
    }
    assert!(head.row_in_block(ip, &wild).is_err(), "record past the end");
    let record = head.row_in_block(ip, block).expect("row").expect("known");
    let (rat, rlen) = head.record_range(record);
    let mut rec = file[rat as usize..rat as usize + rlen as usize].to_vec();
    assert!(head.decode_record(&rec[1..]).is_err());
    rec[7] = 255;
    assert!(head.decode_record(&rec).is_err(), "name past the record");
    assert!(head
        .facts_in(&file[..file.len() - 1], "185.1.1.1".parse().expect("ip"))
        .is_err());

    // No single damaged byte makes a lookup panic.
    let ips = probes(&data);
    for i in 0..file.len() {
        let mut damaged = file.clone();
        damaged[i] ^= 0xa5;
        if let Ok(h) = PagedHead::parse(&damaged) {
            for ip in ips.iter().step_by(7) {
                let _ = h.facts_in(&damaged, *ip);
            }
        }
    }
}
