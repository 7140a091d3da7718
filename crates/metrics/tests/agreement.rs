//! The agreement statistics against the Python references (scripts/gen_agreement_fixture.py:
//! scikit-learn's quadratic κ, the krippendorff package's α, scipy's spearmanr, numpy's
//! Bland–Altman), on synthetic ratings with ties, missing ratings, unused levels, three raters and
//! a judge, and tiny edge cases. Every value within 1e-9; `null` (NaN or an error upstream) must
//! be `None` here.

use medhall_metrics::agreement::{
    Level, SCORE_LEVELS, bland_altman, cohen_kappa_quadratic, krippendorff_alpha,
};
use medhall_metrics::stats::spearman;
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

struct Checker {
    compared: usize,
    undefined: usize,
    max_difference: f64,
}

impl Checker {
    fn check(&mut self, what: &str, ours: Option<f64>, theirs: &Value) {
        match (ours, theirs.as_f64()) {
            (None, None) => {
                assert!(
                    theirs.is_null(),
                    "{what}: reference {theirs} is not a number"
                );
                self.undefined += 1;
            }
            (Some(a), Some(b)) => {
                let difference = (a - b).abs();
                assert!(difference <= TOLERANCE, "{what}: ours {a}, reference {b}");
                self.max_difference = self.max_difference.max(difference);
                self.compared += 1;
            }
            (a, _) => panic!("{what}: ours {a:?}, reference {theirs}"),
        }
    }
}

fn ratings(case: &Value) -> Vec<Vec<Option<u8>>> {
    case["ratings"]
        .as_array()
        .expect("ratings")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("a rater's row")
                .iter()
                .map(|v| v.as_u64().map(|x| u8::try_from(x).expect("a score")))
                .collect()
        })
        .collect()
}

#[test]
fn agreement_equals_the_python_references() {
    let text = include_str!("fixtures/agreement.json");
    let fixture: Value = serde_json::from_str(text).expect("the fixture is JSON");
    let mut checker = Checker {
        compared: 0,
        undefined: 0,
        max_difference: 0.0,
    };
    let cases = fixture["cases"].as_array().expect("cases");
    for case in cases {
        let name = case["name"].as_str().expect("a name");
        let rows = ratings(case);
        for pair in case["pairs"].as_array().expect("pairs") {
            let (i, j) = (
                pair["first"].as_u64().expect("first") as usize,
                pair["second"].as_u64().expect("second") as usize,
            );
            let (a, b): (Vec<u8>, Vec<u8>) = rows[i]
                .iter()
                .zip(&rows[j])
                .filter_map(|(x, y)| Some(((*x)?, (*y)?)))
                .unzip();
            assert_eq!(Some(a.len() as u64), pair["n"].as_u64(), "{name}: n");
            let what = format!("{name} raters {i},{j}");
            checker.check(
                &format!("{what} kappa"),
                cohen_kappa_quadratic(&a, &b, SCORE_LEVELS),
                &pair["kappa"],
            );
            let (fa, fb): (Vec<f64>, Vec<f64>) = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (f64::from(*x), f64::from(*y)))
                .unzip();
            checker.check(
                &format!("{what} rho"),
                spearman(&fa, &fb),
                &pair["spearman"],
            );
            let ours = bland_altman(&fa, &fb);
            let theirs = &pair["bias"];
            checker.check(
                &format!("{what} bias"),
                ours.map(|b| b.mean_difference),
                &theirs["mean"],
            );
            checker.check(
                &format!("{what} sd"),
                ours.and_then(|b| b.sd),
                &theirs["sd"],
            );
            for (k, side) in ["lower", "upper"].into_iter().enumerate() {
                let limit = ours
                    .and_then(|b| b.limits)
                    .map(|(low, high)| if k == 0 { low } else { high });
                checker.check(&format!("{what} {side}"), limit, &theirs["limits"][k]);
            }
        }
        for set in case["alphas"].as_array().expect("alphas") {
            let members: Vec<usize> = set["members"]
                .as_array()
                .expect("members")
                .iter()
                .map(|m| m.as_u64().expect("a rater") as usize)
                .collect();
            let units: Vec<Vec<Option<f64>>> = (0..rows[0].len())
                .map(|u| members.iter().map(|&m| rows[m][u].map(f64::from)).collect())
                .collect();
            let what = format!("{name} alpha {}", set["raters"]);
            checker.check(
                &format!("{what} interval"),
                krippendorff_alpha(&units, &Level::Interval),
                &set["interval"],
            );
            let ordinal = krippendorff_alpha(
                &units,
                &Level::Ordinal {
                    domain: SCORE_LEVELS,
                },
            );
            checker.check(&format!("{what} ordinal"), ordinal, &set["ordinal"]);
            // The package without value_domain gives the same α (unused levels add nothing),
            // except where it raises on a single observed value.
            if !set["ordinal_without_domain"].is_null() {
                checker.check(
                    &format!("{what} ordinal without domain"),
                    ordinal,
                    &set["ordinal_without_domain"],
                );
            }
        }
    }
    println!(
        "{} cases: {} values within {TOLERANCE:e} (max |ours - reference| = {:e}), {} undefined on both sides; versions {}",
        cases.len(),
        checker.compared,
        checker.max_difference,
        checker.undefined,
        fixture["versions"]
    );
    // The fixture exercises every kind of case: defined values, undefined ones, both levels.
    assert!(cases.len() >= 20 && checker.compared > 500 && checker.undefined > 10);
}
