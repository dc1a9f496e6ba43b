//! Small-cell suppression (小数抑制) for what leadership sees. A count of 1 to threshold − 1
//! people is hidden (primary suppression; 0 is shown: it names nobody). Where counts add up to a
//! total that is shown, hiding one of them alone would let a reader work it back by subtraction,
//! so a second one is hidden too — the smallest shown non-zero member, or the total itself when
//! no member can be (secondary suppression), repeated until no group gives a hidden cell away.

/// Counts that add up: `members` sum to `total` (an index into the same cells), or, with no total,
/// a set of cells of which a reader knows some relation (hide none or at least two).
#[derive(Debug, Clone)]
pub struct Group {
    pub members: Vec<usize>,
    pub total: Option<usize>,
}

/// Which of `values` to hide, given the groups they form.
pub fn suppress(values: &[u64], groups: &[Group], threshold: u64) -> Vec<bool> {
    let mut hidden: Vec<bool> = values.iter().map(|&v| v > 0 && v < threshold).collect();
    loop {
        let mut changed = false;
        for g in groups {
            if g.total.is_some_and(|t| hidden[t]) {
                continue;
            }
            let hidden_members = g.members.iter().filter(|&&m| hidden[m]).count();
            if hidden_members != 1 {
                continue;
            }
            let second = g
                .members
                .iter()
                .copied()
                .filter(|&m| !hidden[m] && values[m] > 0)
                .min_by_key(|&m| (values[m], m));
            match (second, g.total) {
                (Some(m), _) => hidden[m] = true,
                (None, Some(t)) => hidden[t] = true,
                // The other members are all zero: nothing to learn from them.
                (None, None) => continue,
            }
            changed = true;
        }
        if !changed {
            return hidden;
        }
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
}
