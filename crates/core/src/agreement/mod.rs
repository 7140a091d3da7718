//! Does the judge agree with clinicians (issue 30)? Ratings of humans and judges joined by item
//! (`ratings`), then, per criterion × split (and × hallucination type where the judged rows
//! carry one): for every pair of raters quadratic κ, Spearman's ρ and the Bland–Altman bias
//! (second minus first: judge minus human, humans being listed first); Krippendorff's α
//! (interval and ordinal) among the humans, the humans with each judge, and the judges; each
//! with a 95% bootstrap interval over items and a signature naming its raters and variants; and
//! the items the raters disagree on most. The statistics are `medhall_metrics::agreement`'s.
//!
//! `medhall report --ratings` and the page's Agreement view reach this through
//! `medhall_app::session::Session::agreement`, with their loaded runs as the judges.

pub mod plan;
pub mod ratings;

pub use plan::{
    PlanCandidate, PlanError, PlanItem, PlanQuery, RatingPlan, RubricCriterion, rating_plan, rubric,
};
pub use ratings::{CRITERIA, FileCount, Rater, RaterKind, RatingTable, read_judged};

use crate::sample::{SampleKey, Split};
use crate::stats::{StatsConfig, spearman};
use medhall_metrics::agreement::{
    AlphaUnits, BIAS_VARIANT, Level, SCORE_LEVELS, bland_altman, bootstrap_over_items,
    bootstrap_variant, cohen_kappa_quadratic, kappa_variant,
};
use serde::{Deserialize, Serialize};

/// The signature part of ρ.
pub const SPEARMAN_VARIANT: &str = "spearman:scipy,ties:average";

/// A statistic and its 95% bootstrap interval; `None` where it is undefined.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: Option<f64>,
    pub ci95: Option<[f64; 2]>,
}

impl Estimate {
    fn new(value: Option<f64>, ci: Option<(f64, f64)>) -> Self {
        Self {
            value,
            ci95: value.and(ci).map(|(low, high)| [low, high]),
        }
    }
}

/// Two raters on the items both rated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairAgreement {
    pub first: String,
    pub second: String,
    pub n: usize,
    pub kappa: Estimate,
    pub spearman: Estimate,
    /// Mean of second − first.
    pub bias: Estimate,
    pub sd: Option<f64>,
    /// Bland–Altman 95% limits of agreement, bias ± 1.96 sd.
    pub limits: Option<[f64; 2]>,
    pub signature: String,
}

/// Krippendorff's α among a set of raters, over the items at least two of them rated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlphaAgreement {
    /// `humans`, `humans+<judge>` or `judges`.
    pub set: String,
    pub members: Vec<String>,
    pub units: usize,
    pub interval: Estimate,
    pub ordinal: Estimate,
    pub signature: String,
}

/// An item the raters disagree on: the spread of its ratings on one criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Disagreement {
    pub split: Split,
    pub question_id: String,
    pub hallucination_type: Option<String>,
    /// Highest minus lowest rating.
    pub range: u8,
    pub ratings: Vec<(String, u8)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupAgreement {
    pub criterion: String,
    pub split: Split,
    /// `None`: all types of the split.
    pub hallucination_type: Option<String>,
    /// Items of the group at least two raters rated on this criterion.
    pub items: usize,
    pub pairs: Vec<PairAgreement>,
    pub alphas: Vec<AlphaAgreement>,
    /// The `top` most disagreeing items (only in the groups of all types).
    pub disagreements: Vec<Disagreement>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgreementReport {
    /// Everything that can change a figure: the plans, all raters, the judges' labels, every
    /// variant.
    pub signature: String,
    /// The rating plans the human ratings name.
    pub plans: Vec<String>,
    pub raters: Vec<Rater>,
    pub stats: StatsConfig,
    pub groups: Vec<GroupAgreement>,
    /// Human × judge score counts per criterion and judge (all splits, all humans pooled).
    pub grids: Vec<ScoreGrid>,
    pub warnings: Vec<String>,
}

/// How often the humans gave score `h` where a judge gave `j`, on one criterion: `counts[h-1][j-1]`
/// over every (human, item) both rated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreGrid {
    pub criterion: String,
    pub judge: String,
    pub counts: Vec<Vec<u32>>,
}

/// `medhall-lens:V|plans:P(id + id)|raters:N(a + b)|judges:J(label + label)|variants…|ci:…`.
fn signature(
    plans: &[String],
    raters: &[&Rater],
    variants: &[&str],
    stats: &StatsConfig,
) -> String {
    let names: Vec<&str> = raters.iter().map(|r| r.name.as_str()).collect();
    let judges: Vec<&str> = raters
        .iter()
        .filter_map(|r| r.label.as_deref().filter(|_| r.kind == RaterKind::Judge))
        .collect();
    format!(
        "medhall-lens:{}|plans:{}({})|raters:{}({})|judges:{}({})|{}|{}",
        env!("CARGO_PKG_VERSION"),
        plans.len(),
        plans.join(" + "),
        names.len(),
        names.join(" + "),
        judges.len(),
        judges.join(" + "),
        variants.join("|"),
        bootstrap_variant(stats)
    )
}

fn levels() -> Level {
    Level::Ordinal {
        domain: SCORE_LEVELS,
    }
}

fn pair(
    plans: &[String],
    raters: [&Rater; 2],
    ratings: &[(u8, u8)],
    stats: &StatsConfig,
    kappa_name: &str,
) -> PairAgreement {
    let (a, b): (Vec<u8>, Vec<u8>) = ratings.iter().copied().unzip();
    let as_f64 = |v: &[u8]| -> Vec<f64> { v.iter().map(|&x| f64::from(x)).collect() };
    let (fa, fb) = (as_f64(&a), as_f64(&b));
    let ba = bland_altman(&fa, &fb);
    let (mut ra, mut rb, mut da, mut db) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let cis = bootstrap_over_items(ratings.len(), 3, stats, |indices, out| {
        ra.clear();
        rb.clear();
        da.clear();
        db.clear();
        for &i in indices {
            ra.push(a[i]);
            rb.push(b[i]);
            da.push(fa[i]);
            db.push(fb[i]);
        }
        out[0] = cohen_kappa_quadratic(&ra, &rb, SCORE_LEVELS);
        out[1] = spearman(&da, &db);
        out[2] = bland_altman(&da, &db).map(|ba| ba.mean_difference);
    });
    PairAgreement {
        first: raters[0].name.clone(),
        second: raters[1].name.clone(),
        n: ratings.len(),
        kappa: Estimate::new(cohen_kappa_quadratic(&a, &b, SCORE_LEVELS), cis[0]),
        spearman: Estimate::new(spearman(&fa, &fb), cis[1]),
        bias: Estimate::new(ba.map(|ba| ba.mean_difference), cis[2]),
        sd: ba.and_then(|ba| ba.sd),
        limits: ba.and_then(|ba| ba.limits).map(|(low, high)| [low, high]),
        signature: signature(
            plans,
            &raters,
            &[kappa_name, SPEARMAN_VARIANT, BIAS_VARIANT],
            stats,
        ),
    }
}

fn alpha(
    plans: &[String],
    set: String,
    members: &[&Rater],
    units: &[Vec<Option<f64>>],
    stats: &StatsConfig,
) -> AlphaAgreement {
    let interval = AlphaUnits::new(units, &Level::Interval);
    let ordinal = AlphaUnits::new(units, &levels());
    let cis = bootstrap_over_items(units.len(), 2, stats, |indices, out| {
        let chosen = || indices.iter().copied();
        out[0] = interval.as_ref().and_then(|u| u.alpha_of(chosen()));
        out[1] = ordinal.as_ref().and_then(|u| u.alpha_of(chosen()));
    });
    let (interval_name, ordinal_name) = (Level::Interval.variant(), levels().variant());
    AlphaAgreement {
        set,
        members: members.iter().map(|r| r.name.clone()).collect(),
        units: units.len(),
        interval: Estimate::new(interval.and_then(|u| u.alpha()), cis[0]),
        ordinal: Estimate::new(ordinal.and_then(|u| u.alpha()), cis[1]),
        signature: signature(plans, members, &[&interval_name, &ordinal_name], stats),
    }
}

/// The rater sets α is given for, as positions: the humans (two or more), the humans with each
/// judge, the judges (two or more).
fn alpha_sets(raters: &[Rater], order: &[usize]) -> Vec<(String, Vec<usize>)> {
    let of = |kind| -> Vec<usize> {
        order
            .iter()
            .copied()
            .filter(|&r| raters[r].kind == kind)
            .collect()
    };
    let (humans, judges) = (of(RaterKind::Human), of(RaterKind::Judge));
    let mut sets = Vec::new();
    if humans.len() >= 2 {
        sets.push(("humans".to_owned(), humans.clone()));
    }
    if !humans.is_empty() {
        for &judge in &judges {
            let mut members = humans.clone();
            members.push(judge);
            sets.push((format!("humans+{}", raters[judge].name), members));
        }
    }
    if judges.len() >= 2 {
        sets.push(("judges".to_owned(), judges));
    }
    sets
}

/// The agreement tables of every criterion × split × type that has an item two raters rated.
pub fn agreement(table: &RatingTable, stats: &StatsConfig, top: usize) -> AgreementReport {
    let raters = &table.raters;
    // Humans first, so that a pair's second rater is the judge and its bias judge − human.
    let mut order: Vec<usize> = (0..raters.len()).collect();
    order.sort_by_key(|&r| raters[r].kind == RaterKind::Judge);
    let sorted: Vec<&Rater> = order.iter().map(|&r| &raters[r]).collect();
    let kappa_name = kappa_variant(&SCORE_LEVELS);
    let (interval_name, ordinal_name) = (Level::Interval.variant(), levels().variant());
    let all_variants = [
        kappa_name.as_str(),
        &interval_name,
        &ordinal_name,
        SPEARMAN_VARIANT,
        BIAS_VARIANT,
    ];
    let mut groups = Vec::new();
    for (c, criterion) in CRITERIA.into_iter().enumerate() {
        for split in Split::ALL {
            let in_split: Vec<&ratings::Item> = table
                .items
                .iter()
                .filter(|i| i.key.split == split)
                .collect();
            let mut types: Vec<&str> = in_split
                .iter()
                .filter_map(|i| i.hallucination_type.as_deref())
                .collect();
            types.sort_unstable();
            types.dedup();
            let subsets = std::iter::once(None).chain(types.into_iter().map(Some));
            for kind in subsets {
                let items: Vec<&ratings::Item> = in_split
                    .iter()
                    .copied()
                    .filter(|i| kind.is_none() || i.hallucination_type.as_deref() == kind)
                    .collect();
                let group = GroupInput {
                    plans: &table.plans,
                    items: &items,
                    criterion: c,
                    order: &order,
                    raters,
                };
                let rated = group.rated_by_two();
                if rated == 0 {
                    continue;
                }
                groups.push(GroupAgreement {
                    criterion: criterion.to_owned(),
                    split,
                    hallucination_type: kind.map(str::to_owned),
                    items: rated,
                    pairs: group.pairs(stats, &kappa_name),
                    alphas: group.alphas(stats),
                    disagreements: if kind.is_none() {
                        group.top(top)
                    } else {
                        Vec::new()
                    },
                });
            }
        }
    }
    AgreementReport {
        signature: signature(&table.plans, &sorted, &all_variants, stats),
        plans: table.plans.clone(),
        raters: sorted.into_iter().cloned().collect(),
        stats: *stats,
        groups,
        grids: grids(table),
        warnings: table.warnings.clone(),
    }
}

/// One grid per criterion and judge, when some human rated an item that judge rated.
fn grids(table: &RatingTable) -> Vec<ScoreGrid> {
    let of = |kind| -> Vec<usize> {
        (0..table.raters.len())
            .filter(|&r| table.raters[r].kind == kind)
            .collect()
    };
    let (humans, judges) = (of(RaterKind::Human), of(RaterKind::Judge));
    let mut out = Vec::new();
    for (c, criterion) in CRITERIA.into_iter().enumerate() {
        for &judge in &judges {
            let mut counts = vec![vec![0u32; SCORE_LEVELS.len()]; SCORE_LEVELS.len()];
            let mut any = false;
            for item in &table.items {
                let Some(j) = item.scores.get(judge).and_then(|s| s[c]) else {
                    continue;
                };
                for &human in &humans {
                    if let Some(h) = item.scores.get(human).and_then(|s| s[c])
                        && let Some(row) = counts.get_mut(usize::from(h) - 1)
                        && let Some(cell) = row.get_mut(usize::from(j) - 1)
                    {
                        *cell += 1;
                        any = true;
                    }
                }
            }
            if any {
                out.push(ScoreGrid {
                    criterion: criterion.to_owned(),
                    judge: table.raters[judge].name.clone(),
                    counts,
                });
            }
        }
    }
    out
}

/// One group's items on one criterion.
struct GroupInput<'a> {
    plans: &'a [String],
    items: &'a [&'a ratings::Item],
    criterion: usize,
    order: &'a [usize],
    raters: &'a [Rater],
}

impl GroupInput<'_> {
    fn score(&self, item: &ratings::Item, rater: usize) -> Option<u8> {
        item.scores.get(rater).and_then(|s| s[self.criterion])
    }

    fn rated_by_two(&self) -> usize {
        self.items
            .iter()
            .filter(|i| self.order.iter().filter_map(|&r| self.score(i, r)).count() >= 2)
            .count()
    }

    fn pairs(&self, stats: &StatsConfig, kappa_name: &str) -> Vec<PairAgreement> {
        let mut pairs = Vec::new();
        for (x, &i) in self.order.iter().enumerate() {
            for &j in &self.order[x + 1..] {
                let shared: Vec<(u8, u8)> = self
                    .items
                    .iter()
                    .filter_map(|item| Some((self.score(item, i)?, self.score(item, j)?)))
                    .collect();
                if !shared.is_empty() {
                    let raters = [&self.raters[i], &self.raters[j]];
                    pairs.push(pair(self.plans, raters, &shared, stats, kappa_name));
                }
            }
        }
        pairs
    }

    fn alphas(&self, stats: &StatsConfig) -> Vec<AlphaAgreement> {
        let mut out = Vec::new();
        for (set, members) in alpha_sets(self.raters, self.order) {
            let units: Vec<Vec<Option<f64>>> = self
                .items
                .iter()
                .map(|item| {
                    let scores = members.iter().map(|&r| self.score(item, r).map(f64::from));
                    scores.collect::<Vec<_>>()
                })
                .filter(|unit: &Vec<Option<f64>>| unit.iter().flatten().count() >= 2)
                .collect();
            if !units.is_empty() {
                let raters: Vec<&Rater> = members.iter().map(|&r| &self.raters[r]).collect();
                out.push(alpha(self.plans, set, &raters, &units, stats));
            }
        }
        out
    }

    /// The items with the widest spread, then the largest mean pairwise difference, then by key;
    /// items all raters scored alike are not listed.
    fn top(&self, top: usize) -> Vec<Disagreement> {
        let mut ranked: Vec<(u8, f64, &SampleKey, Disagreement)> = Vec::new();
        for item in self.items {
            let ratings: Vec<(String, u8)> = self
                .order
                .iter()
                .filter_map(|&r| Some((self.raters[r].name.clone(), self.score(item, r)?)))
                .collect();
            if ratings.len() < 2 {
                continue;
            }
            let values: Vec<u8> = ratings.iter().map(|(_, v)| *v).collect();
            let range = values.iter().max().unwrap_or(&0) - values.iter().min().unwrap_or(&0);
            // Raters who agree exactly are no disagreement to list.
            if range == 0 {
                continue;
            }
            let (mut total, mut pairs) = (0.0, 0.0);
            for (x, a) in values.iter().enumerate() {
                for b in &values[x + 1..] {
                    total += f64::from(a.abs_diff(*b));
                    pairs += 1.0;
                }
            }
            let disagreement = Disagreement {
                split: item.key.split,
                question_id: item.key.question_id.clone(),
                hallucination_type: item.hallucination_type.clone(),
                range,
                ratings,
            };
            ranked.push((range, total / pairs, &item.key, disagreement));
        }
        ranked.sort_by(|a, b| {
            (b.0.cmp(&a.0))
                .then(b.1.total_cmp(&a.1))
                .then_with(|| a.2.cmp(b.2))
        });
        ranked.into_iter().take(top).map(|r| r.3).collect()
    }
}

#[cfg(test)]
mod tests;
