use super::*;

/// splitmix64: reproducible vectors without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// Unit vectors shaped like face embeddings rather than isotropic noise: components with
/// unequal spreads (a few dominant directions, as a trained network's) and a shared offset,
/// so that unrelated vectors have cosines around 0.1 and the largest components are ~0.3.
struct Faces {
    rng: Rng,
    spread: Vec<f32>,
    offset: Vec<f32>,
}

impl Faces {
    fn new(seed: u64) -> Faces {
        let mut rng = Rng(seed);
        let spread = (0..DIM).map(|_| (0.6 * rng.gaussian()).exp()).collect();
        let offset = (0..DIM).map(|_| 0.3 * rng.gaussian()).collect();
        Faces {
            rng,
            spread,
            offset,
        }
    }

    fn face(&mut self) -> Embedding {
        let v = (0..DIM)
            .map(|i| self.offset[i] + self.spread[i] * self.rng.gaussian())
            .collect();
        Embedding::from_raw(v).expect("a random vector is not zero")
    }

    /// Another capture of `of`: cosine about `1 - noise²/2`.
    fn near(&mut self, of: &Embedding, noise: f32) -> Embedding {
        let v =
            of.0.iter()
                .map(|x| x + noise * self.rng.gaussian() / (DIM as f32).sqrt())
                .collect();
        Embedding::from_raw(v).expect("a random vector is not zero")
    }
}

fn index_of(faces: &[Embedding]) -> FaceIndex {
    let mut index = FaceIndex::new();
    for (i, f) in faces.iter().enumerate() {
        assert!(!index.insert(&format!("face-{i}"), f).unwrap());
    }
    index
}

fn exact_of(faces: &[Embedding]) -> impl FnMut(&str) -> Option<Embedding> + '_ {
    |id: &str| {
        let i: usize = id.strip_prefix("face-")?.parse().ok()?;
        faces.get(i).cloned()
    }
}

#[test]
fn quantisation_error_is_bounded() {
    let mut gen = Faces::new(1);
    let faces: Vec<Embedding> = (0..2_000).map(|_| gen.face()).collect();
    let codes: Vec<Code> = faces
        .iter()
        .map(|f| Code::quantise(&f.0).unwrap())
        .collect();
    let (mut max, mut sum, mut n) = (0f32, 0f64, 0usize);
    for i in 0..1_000 {
        // Half the probes resemble a gallery face, so that high cosines are measured too.
        let probe = if i % 2 == 0 {
            gen.near(&faces[i], 0.6)
        } else {
            gen.face()
        };
        let q = Code::quantise(&probe.0).unwrap();
        for (f, c) in faces.iter().zip(&codes) {
            let estimate = dot(&q.codes, &c.codes) as f32 * q.scale * c.scale;
            let err = (estimate - probe.cosine(f)).abs();
            max = max.max(err);
            sum += f64::from(err);
            n += 1;
        }
    }
    let mean = sum / n as f64;
    eprintln!("int8 cosine error over {n} pairs: max {max:.5}, mean {mean:.5}");
    assert!(max * 2.5 <= QUANTISATION_MARGIN, "max {max}");
    assert!(mean < 0.002, "mean {mean}");
}

#[test]
fn a_face_finds_itself_first() {
    let mut gen = Faces::new(2);
    let faces: Vec<Embedding> = (0..1_000).map(|_| gen.face()).collect();
    let index = index_of(&faces);
    for i in (0..faces.len()).step_by(97) {
        let hits = index.search(&faces[i], 3, 0.5).unwrap();
        assert_eq!(hits[0].id, format!("face-{i}"));
        assert!(!hits[0].exact && (hits[0].cosine - 1.0).abs() < QUANTISATION_MARGIN);
        let hits = index
            .search_exact(&faces[i], 3, 0.5, exact_of(&faces))
            .unwrap();
        assert_eq!(hits[0].id, format!("face-{i}"));
        assert!(hits[0].exact && (hits[0].cosine - 1.0).abs() < 1e-5);
    }
}

#[test]
fn the_scan_misses_nothing_a_brute_force_finds() {
    let mut gen = Faces::new(3);
    let faces: Vec<Embedding> = (0..3_000).map(|_| gen.face()).collect();
    let index = index_of(&faces);
    let k = 5;
    for i in 0..200 {
        let probe = gen.near(&faces[i * 7], 0.9 + 0.005 * i as f32);
        let min = 0.3;
        let mut expected: Vec<(f32, String)> = faces
            .iter()
            .enumerate()
            .map(|(j, f)| (probe.cosine(f), format!("face-{j}")))
            .filter(|(c, _)| *c >= min)
            .collect();
        expected.sort_by(|a, b| b.0.total_cmp(&a.0));
        expected.truncate(k);
        let hits = index
            .search_exact(&probe, k, min, exact_of(&faces))
            .unwrap();
        let got: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
        let want: Vec<&str> = expected.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(got, want, "probe {i}");
        for (h, e) in hits.iter().zip(&expected) {
            assert!((h.cosine - e.0).abs() < 1e-5);
        }
    }
}

#[test]
fn k_larger_than_the_index_and_an_empty_index() {
    let mut gen = Faces::new(4);
    let empty = FaceIndex::new();
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    assert_eq!(empty.search(&gen.face(), 10, -1.0).unwrap(), vec![]);
    assert_eq!(FaceIndex::from_bytes(&empty.to_bytes()).unwrap().len(), 0);

    let faces: Vec<Embedding> = (0..5).map(|_| gen.face()).collect();
    let index = index_of(&faces);
    let probe = gen.face();
    let all = index.search(&probe, 100, -1.0).unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].cosine >= w[1].cosine));
    assert_eq!(index.search(&probe, 0, -1.0).unwrap(), vec![]);
    assert!(index.search(&probe, 100, 1.5).unwrap().is_empty());
    assert!(index.search(&probe, 100, f32::NAN).unwrap().is_empty());
}

#[test]
fn removal_and_replacement() {
    let mut gen = Faces::new(5);
    let faces: Vec<Embedding> = (0..50).map(|_| gen.face()).collect();
    let mut index = index_of(&faces);
    assert!(index.remove("face-7"));
    assert!(!index.remove("face-7"));
    assert!(!index.remove("nobody"));
    assert_eq!(index.len(), 49);
    assert!(!index.contains("face-7"));
    let hits = index.search(&faces[7], 50, -1.0).unwrap();
    assert_eq!(hits.len(), 49);
    assert!(hits.iter().all(|h| h.id != "face-7"));
    // face-49 moved into face-7's slot and is still itself.
    assert_eq!(index.search(&faces[49], 1, 0.9).unwrap()[0].id, "face-49");
    // Re-enrolment replaces the template under the same id.
    assert!(index.insert("face-3", &faces[7]).unwrap());
    assert_eq!(index.len(), 49);
    let top = &index.search(&faces[7], 1, 0.9).unwrap()[0];
    assert_eq!(top.id, "face-3");
    while let Some(h) = index.search(&faces[0], 1, -1.0).unwrap().first() {
        assert!(index.remove(&h.id));
    }
    assert!(index.is_empty());
}

#[test]
fn bad_queries_and_templates_are_refused() {
    let mut gen = Faces::new(6);
    let mut index = index_of(&[gen.face(), gen.face()]);
    let mut nan = gen.face();
    nan.0[5] = f32::NAN;
    let bad = [
        nan,
        Embedding(vec![0.0; DIM]),
        Embedding(vec![0.1; 3]),
        Embedding(vec![f32::INFINITY; DIM]),
        Embedding(Vec::new()),
    ];
    for b in &bad {
        assert_eq!(index.search(b, 5, 0.0), Err(SearchError::InvalidQuery));
        assert_eq!(
            index.search_exact(b, 5, 0.0, |_| None),
            Err(SearchError::InvalidQuery)
        );
        assert_eq!(index.insert("x", b), Err(SearchError::InvalidTemplate));
    }
    assert_eq!(index.len(), 2);
    assert_eq!(
        index.insert(&"x".repeat(MAX_ID_BYTES + 1), &gen.face()),
        Err(SearchError::IdTooLong)
    );
    // A broken stored template keeps its estimate instead of failing the search.
    let probe = gen.face();
    let hits = index.search_exact(&probe, 5, -1.0, |_| Some(Embedding(vec![f32::NAN; DIM])));
    assert!(hits.unwrap().iter().all(|h| !h.exact));
    // A template that is not quite unit length still compares as a cosine.
    let long = Embedding(gen.face().0.iter().map(|x| x * 3.0).collect());
    index.insert("long", &long).unwrap();
    let top = &index.search(&long, 1, 0.9).unwrap()[0];
    assert!(top.id == "long" && (top.cosine - 1.0).abs() < QUANTISATION_MARGIN);
}

#[test]
fn bytes_round_trip_and_corruption_is_an_error() {
    let mut gen = Faces::new(7);
    let faces: Vec<Embedding> = (0..300).map(|_| gen.face()).collect();
    let mut index = index_of(&faces);
    index.insert("ünïcode id", &gen.face()).unwrap();
    index.remove("face-10");
    let bytes = index.to_bytes();
    let back = FaceIndex::from_bytes(&bytes).unwrap();
    assert_eq!(back.len(), index.len());
    assert_eq!(back.to_bytes(), bytes);
    for f in faces.iter().step_by(13) {
        assert_eq!(
            back.search(f, 5, 0.0).unwrap(),
            index.search(f, 5, 0.0).unwrap()
        );
    }
    assert!(back.contains("ünïcode id") && !back.contains("face-10"));

    for cut in [0, 3, 10, 11, 100, bytes.len() - 1] {
        assert!(matches!(
            FaceIndex::from_bytes(&bytes[..cut]),
            Err(SearchError::Corrupt(_))
        ));
    }
    let corrupt = |at: usize, value: u8| {
        let mut b = bytes.clone();
        b[at] = value;
        FaceIndex::from_bytes(&b)
    };
    assert!(corrupt(0, b'X').is_err());
    assert!(corrupt(4, 9).is_err()); // version
    assert!(corrupt(5, 64).is_err()); // dimension
    assert!(corrupt(10, 0xff).is_err()); // count far beyond the bytes
    assert!(corrupt(11 + 3, 0x7f).is_err()); // scale NaN
    assert!(corrupt(11 + 4, 0x80).is_err()); // code -128
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(FaceIndex::from_bytes(&longer).is_err());
    // The same id twice.
    let mut twice = FaceIndex::new();
    twice.insert("a", &faces[0]).unwrap();
    twice.insert("b", &faces[1]).unwrap();
    let mut b = twice.to_bytes();
    let last = b.len() - 1;
    b[last] = b'a';
    assert!(matches!(
        FaceIndex::from_bytes(&b),
        Err(SearchError::Corrupt(m)) if m.contains("twice")
    ));
}

#[test]
fn memory_is_about_the_codes() {
    let mut gen = Faces::new(8);
    let faces: Vec<Embedding> = (0..1_000).map(|_| gen.face()).collect();
    let index = index_of(&faces);
    let per_face = index.memory_bytes() as f64 / 1_000.0;
    assert!(
        (132.0..400.0).contains(&per_face),
        "{per_face} bytes a face"
    );
}
