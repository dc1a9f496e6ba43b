//! Small-cell suppression (小数抑制) for what leadership sees. A count of 1 to threshold − 1
//! people is hidden (primary suppression; 0 is shown: it names nobody). Where counts add up to a
//! total that is shown, hiding one of them alone would let a reader work it back by subtraction,
//! so a second one is hidden too (secondary suppression): the complement that loses least, and
//! never a cell that the other hidden cells already protect (see [`suppress`]).

/// Counts that add up: `members` sum to `total` (an index into the same cells), or, with no total,
/// a set of cells of which a reader knows some relation (hide none or at least two).
#[derive(Debug, Clone)]
pub struct Group {
    pub members: Vec<usize>,
    pub total: Option<usize>,
}

/// Which of `values` to hide, given the groups they form.
///
/// Primary cells (1 to threshold − 1) are hidden first. Where groups that share cells hold at most
/// [`EXACT_UP_TO`] cells that could be hidden (a month's tiers with the listed total and
/// 重点青少年), every set is tried and the one hiding the fewest people is taken (then the fewest
/// cells). In larger ones, while a group would give a hidden cell
/// away, the complement is chosen to lose least: among the cells that would make an exposed group
/// safe, the one with the fewest people per exposed group it protects (a cell that protects two
/// groups at once, such as orange for red in both the tiers' total and 重点青少年, beats a
/// smaller one that protects only one). A last pass shows again, largest first, every
/// secondary cell that the others make unnecessary, so no cell is hidden that could be left.
pub fn suppress(values: &[u64], groups: &[Group], threshold: u64) -> Vec<bool> {
    let primary: Vec<bool> = values.iter().map(|&v| v > 0 && v < threshold).collect();
    let mut hidden = primary.clone();
    // Small tables (a month's tiers and their totals) are solved exactly.
    for component in components(values.len(), groups) {
        let local: Vec<&Group> = component.iter().map(|&g| &groups[g]).collect();
        if !local.iter().any(|g| exposes(values, g, &hidden)) {
            continue;
        }
        let mut cells: Vec<usize> = local.iter().flat_map(|g| g.members.iter().copied().chain(g.total)).collect();
        cells.sort_unstable();
        cells.dedup();
        cells.retain(|&c| values[c] > 0 && !primary[c]);
        if cells.len() > EXACT_UP_TO {
            continue;
        }
        let mut best: Option<(u64, u32, u32)> = None;
        for mask in 1u32..1 << cells.len() {
            for (k, &c) in cells.iter().enumerate() {
                hidden[c] = mask & (1 << k) != 0;
            }
            if local.iter().any(|g| exposes(values, g, &hidden)) {
                continue;
            }
            let lost: u64 = cells.iter().enumerate().filter(|(k, _)| mask & (1 << k) != 0).map(|(_, &c)| values[c]).sum();
            let key = (lost, mask.count_ones(), mask);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        let mask = best.map_or(0, |b| b.2);
        for (k, &c) in cells.iter().enumerate() {
            hidden[c] = mask & (1 << k) != 0;
        }
    }
    // Larger ones (the latest month's townships, genders and totals together) greedily.
    loop {
        let exposed: Vec<&Group> = groups.iter().filter(|g| exposes(values, g, &hidden)).collect();
        if exposed.is_empty() {
            break;
        }
        // Candidates: a shown non-zero member or the shown total of an exposed group.
        let mut best: Option<(f64, u64, usize)> = None;
        for g in &exposed {
            let candidates: Vec<usize> =
                g.members.iter().copied().filter(|&m| values[m] > 0).chain(g.total).filter(|&c| !hidden[c]).collect();
            for c in candidates {
                hidden[c] = true;
                let fixed = exposed.iter().filter(|h| !exposes(values, h, &hidden)).count();
                hidden[c] = false;
                if fixed == 0 {
                    continue;
                }
                let cost = values[c] as f64 / fixed as f64;
                let key = (cost, values[c], c);
                if best.is_none_or(|b| key.0 < b.0 || (key.0 == b.0 && (key.1, key.2) < (b.1, b.2))) {
                    best = Some(key);
                }
            }
        }
        match best {
            Some((_, _, c)) => hidden[c] = true,
            // Nothing shown could protect the exposed groups (cannot happen: a total can be hidden).
            None => break,
        }
    }
    // Show again what the others make unnecessary, largest first.
    let mut secondary: Vec<usize> = (0..values.len()).filter(|&i| hidden[i] && !primary[i]).collect();
    secondary.sort_by_key(|&i| (std::cmp::Reverse(values[i]), i));
    for i in secondary {
        hidden[i] = false;
        if groups.iter().any(|g| exposes(values, g, &hidden)) {
            hidden[i] = true;
        }
    }
    hidden
}

/// Components of at most this many cells that could be hidden are solved by trying every set.
const EXACT_UP_TO: usize = 14;

/// The groups, partitioned into sets that share no cell.
fn components(n: usize, groups: &[Group]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for g in groups {
        let cells: Vec<usize> = g.members.iter().copied().chain(g.total).collect();
        for w in cells.windows(2) {
            let (a, b) = (root(&mut parent, w[0]), root(&mut parent, w[1]));
            parent[a] = b;
        }
    }
    let mut by_root: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, g) in groups.iter().enumerate() {
        if let Some(&c) = g.members.first().or(g.total.as_ref()) {
            by_root.entry(root(&mut parent, c)).or_default().push(i);
        }
    }
    by_root.into_values().collect()
}

/// Whether a reader could work a hidden non-zero cell of `g` back from its shown cells: exactly
/// one member hidden and the total shown, or (no total) exactly one member hidden.
fn exposes(values: &[u64], g: &Group, hidden: &[bool]) -> bool {
    if g.total.is_some_and(|t| hidden[t]) {
        return false;
    }
    let mut hidden_members = g.members.iter().filter(|&&m| hidden[m]);
    match (hidden_members.next(), hidden_members.next()) {
        (Some(&m), None) => {
            // With no total, one hidden member is exposed only if the others say something.
            values[m] > 0 && (g.total.is_some() || g.members.iter().any(|&o| o != m && values[o] > 0))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(members: &[usize], total: usize) -> Group {
        Group { members: members.to_vec(), total: Some(total) }
    }

    /// No hidden cell can be worked out from the shown cells of its groups.
    fn safe(values: &[u64], groups: &[Group], hidden: &[bool]) -> bool {
        groups.iter().all(|g| {
            let n = g.members.iter().filter(|&&m| hidden[m]).count();
            let total_hidden = g.total.is_some_and(|t| hidden[t]);
            let nonzero_hidden = g.members.iter().filter(|&&m| hidden[m] && values[m] > 0).count();
            total_hidden || n != 1 || nonzero_hidden == 0
        })
    }

    #[test]
    fn small_counts_are_hidden_and_zero_and_five_are_shown() {
        let values = [0, 1, 4, 5, 100];
        assert_eq!(suppress(&values, &[], 5), vec![false, true, true, false, false]);
    }

    #[test]
    fn a_lone_hidden_member_of_a_shown_total_takes_the_smallest_other_with_it() {
        // red 3, orange 40, yellow 12, blue 200, listed 255
        let values = [3, 40, 12, 200, 255];
        let groups = [group(&[0, 1, 2, 3], 4)];
        let hidden = suppress(&values, &groups, 5);
        assert_eq!(hidden, vec![true, false, true, false, false]);
        assert!(safe(&values, &groups, &hidden));
    }

    #[test]
    fn when_every_other_member_is_zero_the_total_is_hidden() {
        let values = [0, 3, 0, 3];
        let groups = [group(&[0, 1, 2], 3)];
        let hidden = suppress(&values, &groups, 5);
        assert_eq!(hidden, vec![false, true, false, true]);
    }

    #[test]
    fn nested_groups_are_protected_together() {
        // tiers red 2, orange 30, yellow 7, blue 50 → listed 89; 重点 = red + orange = 32.
        let values = [2, 30, 7, 50, 89, 32];
        let groups = [group(&[0, 1, 2, 3], 4), group(&[0, 1], 5)];
        let hidden = suppress(&values, &groups, 5);
        assert!(hidden[0], "red is small");
        assert!(hidden[1], "orange would give red away through 重点青少年");
        assert!(safe(&values, &groups, &hidden));
        // Exhaustively: every small table of this shape comes out safe.
        for red in 0..8 {
            for orange in 0..8 {
                for yellow in 0..8 {
                    let blue = 9;
                    let v = [red, orange, yellow, blue, red + orange + yellow + blue, red + orange];
                    let h = suppress(&v, &groups, 5);
                    assert!(safe(&v, &groups, &h), "{v:?} → {h:?}");
                    for (i, &x) in v.iter().enumerate() {
                        if x > 0 && x < 5 {
                            assert!(h[i], "{v:?}: cell {i} must be hidden");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_pair_without_total_hides_both_or_neither() {
        let values = [3, 40];
        let groups = [Group { members: vec![0, 1], total: None }];
        assert_eq!(suppress(&values, &groups, 5), vec![true, true]);
        assert_eq!(suppress(&[6, 40], &groups, 5), vec![false, false]);
    }

    /// The least people a safe complement of the primary cells can hide (brute force).
    fn least_loss(values: &[u64], groups: &[Group], threshold: u64) -> u64 {
        let n = values.len();
        (0u32..1 << n)
            .filter_map(|mask| {
                let hidden: Vec<bool> = (0..n).map(|i| mask & (1 << i) != 0).collect();
                let covers = (0..n).all(|i| hidden[i] || !(values[i] > 0 && values[i] < threshold));
                // Zero is always shown: it names nobody.
                let covers = covers && (0..n).all(|i| !hidden[i] || values[i] > 0);
                (covers && groups.iter().all(|g| !exposes(values, g, &hidden)))
                    .then(|| (0..n).filter(|&i| hidden[i] && values[i] >= threshold).map(|i| values[i]).sum())
            })
            .min()
            .unwrap()
    }

    #[test]
    fn the_complement_is_the_one_that_loses_least_and_no_cell_is_hidden_needlessly() {
        // red, orange, yellow, blue, listed, 重点青少年 = red + orange.
        let groups = [group(&[0, 1, 2, 3], 4), group(&[0, 1], 5)];
        // Issue 13: red 3 hid orange 60 and yellow 50; hiding orange alone protects red in both.
        let v = [3, 60, 50, 500, 613, 63];
        assert_eq!(suppress(&v, &groups, 5), vec![true, true, false, false, false, false]);
        for red in [0, 1, 3, 5, 9] {
            for orange in [0, 2, 4, 6, 40, 60] {
                for yellow in [0, 1, 3, 7, 50] {
                    for blue in [0, 2, 6, 500] {
                        let v = [red, orange, yellow, blue, red + orange + yellow + blue, red + orange];
                        let h = suppress(&v, &groups, 5);
                        assert!(safe(&v, &groups, &h), "{v:?} → {h:?}");
                        let lost: u64 = (0..v.len()).filter(|&i| h[i] && v[i] >= 5).map(|i| v[i]).sum();
                        assert_eq!(lost, least_loss(&v, &groups, 5), "{v:?} → {h:?}");
                        for i in 0..v.len() {
                            if h[i] && v[i] >= 5 {
                                let mut fewer = h.clone();
                                fewer[i] = false;
                                assert!(!safe(&v, &groups, &fewer), "{v:?}: cell {i} was hidden needlessly");
                            }
                        }
                    }
                }
            }
        }
    }
}
