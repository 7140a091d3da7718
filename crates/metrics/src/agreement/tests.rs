use super::*;

#[test]
fn kappa_worked_examples() {
    // Identical ratings over several levels agree perfectly.
    let a = [1, 5, 5, 9, 10];
    assert_eq!(cohen_kappa_quadratic(&a, &a, SCORE_LEVELS), Some(1.0));
    // One level only: undefined, as sklearn returns NaN.
    assert_eq!(cohen_kappa_quadratic(&[7; 4], &[7; 4], SCORE_LEVELS), None);
    // Two items, swapped: C = [[0,1],[1,0]] on labels 1 and 2, E = [[.5,.5],[.5,.5]]:
    // κ = 1 - 2 / 1 = -1.
    let k = cohen_kappa_quadratic(&[1, 2], &[2, 1], SCORE_LEVELS).expect("defined");
    assert!((k + 1.0).abs() < 1e-15, "{k}");
    assert_eq!(cohen_kappa_quadratic(&[1, 2], &[1], SCORE_LEVELS), None);
    assert_eq!(cohen_kappa_quadratic(&[], &[], SCORE_LEVELS), None);
    // Values outside the labels are dropped; none of `a` among them is undefined.
    assert_eq!(cohen_kappa_quadratic(&[0, 11], &[1, 2], SCORE_LEVELS), None);
}

#[test]
fn alpha_reproduces_the_packages_docstring() {
    // krippendorff.alpha's own example: interval 0.810845, nominal 0.691358 (not ours).
    let n = None;
    let rows = [
        [
            n,
            n,
            n,
            n,
            n,
            Some(3.),
            Some(4.),
            Some(1.),
            Some(2.),
            Some(1.),
            Some(1.),
            Some(3.),
            Some(3.),
            n,
            Some(3.),
        ],
        [
            Some(1.),
            n,
            Some(2.),
            Some(1.),
            Some(3.),
            Some(3.),
            Some(4.),
            Some(3.),
            n,
            n,
            n,
            n,
            n,
            n,
            n,
        ],
        [
            n,
            n,
            Some(2.),
            Some(1.),
            Some(3.),
            Some(4.),
            Some(4.),
            n,
            Some(2.),
            Some(1.),
            Some(1.),
            Some(3.),
            Some(3.),
            n,
            Some(4.),
        ],
    ];
    let units: Vec<Vec<Option<f64>>> = (0..15)
        .map(|u| rows.iter().map(|r| r[u]).collect())
        .collect();
    let alpha = krippendorff_alpha(&units, &Level::Interval).expect("defined");
    assert!((alpha - 0.810845).abs() < 5e-7, "{alpha}");
    // Constant ratings: one value in the domain (interval raises; ordinal gives NaN).
    let constant = vec![vec![Some(5.0), Some(5.0)]; 3];
    assert_eq!(krippendorff_alpha(&constant, &Level::Interval), None);
    let ordinal = Level::Ordinal {
        domain: SCORE_LEVELS,
    };
    assert_eq!(krippendorff_alpha(&constant, &ordinal), None);
    // Out of domain, and no unit with two ratings.
    assert_eq!(
        krippendorff_alpha(&[vec![Some(0.0), Some(1.0)]], &ordinal),
        None
    );
    let single = vec![vec![Some(1.0), None], vec![None, Some(2.0)]];
    assert_eq!(krippendorff_alpha(&single, &Level::Interval), None);
}

#[test]
fn bland_altman_limits() {
    let ba = bland_altman(&[1.0, 2.0, 3.0], &[2.0, 2.0, 5.0]).expect("defined");
    // d = 1, 0, 2: mean 1, sd 1.
    assert_eq!((ba.n, ba.mean_difference, ba.sd), (3, 1.0, Some(1.0)));
    assert_eq!(ba.limits, Some((1.0 - 1.96, 1.0 + 1.96)));
    let one = bland_altman(&[1.0], &[3.0]).expect("defined");
    assert_eq!((one.mean_difference, one.sd, one.limits), (2.0, None, None));
    assert_eq!(bland_altman(&[], &[]), None);
}

#[test]
fn bootstrap_is_seeded_and_skips_undefined_draws() {
    let a: Vec<u8> = (0..60).map(|i| 1 + (i % 10) as u8).collect();
    let b: Vec<u8> = a
        .iter()
        .map(|&x| if x % 3 == 0 { x.max(2) - 1 } else { x })
        .collect();
    let config = StatsConfig::default();
    let run = |config: &StatsConfig| {
        bootstrap_over_items(a.len(), 2, config, |indices, out| {
            let (x, y): (Vec<u8>, Vec<u8>) = indices.iter().map(|&i| (a[i], b[i])).unzip();
            out[0] = cohen_kappa_quadratic(&x, &y, SCORE_LEVELS);
        })
    };
    let intervals = run(&config);
    let (low, high) = intervals[0].expect("an interval");
    let kappa = cohen_kappa_quadratic(&a, &b, SCORE_LEVELS).expect("defined");
    assert!(
        low <= kappa && kappa <= high && high <= 1.0,
        "{low} {kappa} {high}"
    );
    assert_eq!(
        intervals[1], None,
        "a statistic never written has no interval"
    );
    assert_eq!(run(&config), intervals);
    assert_ne!(run(&StatsConfig { seed: 1, ..config }), intervals);
    let off = StatsConfig {
        bootstrap_resamples: 0,
        ..config
    };
    assert_eq!(run(&off), vec![None, None]);
}
