//! What changed between two scored runs (新增, 升级, 降级, 解除), how long people have been listed,
//! and the tasks' due dates, over two nights on one lake.

use crate::common::*;

#[test]
fn a_second_night_reports_new_up_down_and_lifted_people_and_keeps_first_listed_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, lake, out) = hand_made_county(dir);
    // Night 1, 2026-11-01.
    //   1: C1 from 2026-05-20 (165 days old; 185 days old on night 2) → blue, then lifted
    //   2: C6 LB → blue, then a police S01 on 2026-11-10 → orange (up)
    //   3: K3 on 2025-11-10 (356 days; 376 on night 2) with C6 LB → orange, then blue (down)
    //   4: C6 LB → blue on both nights (same)
    //   5: nothing on night 1; a B01 on 2026-11-15 → blue (new)
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-01.csv"),
        &[&POLICE, &format!("{},2012-01-01,1,431102001,P1,2026-05-20,S,B01,", pk(1))],
    );
    write_csv(
        &dir.join("inbox/civil/civil_status_2026-11-01.csv"),
        &[
            &CIVIL,
            &format!("{},2012-01-01,2,431102001,CS2,LB,2025-01-01,", pk(2)),
            &format!("{},2012-01-01,1,431102002,CS3,LB,2025-01-01,", pk(3)),
            &format!("{},2012-01-01,2,431102002,CS4,LB,2025-01-01,", pk(4)),
        ],
    );
    write_csv(
        &dir.join("inbox/education/education_conduct_2026-11-01.csv"),
        &[&CONDUCT, &format!("{},2012-01-01,1,431102002,K3,S1,2025-11-10,K3", pk(3))],
    );
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-01", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = out.join("2026-11-01");
    let tiers = |d: &std::path::Path| {
        parquet_rows(&d.join("risk_list.parquet"), "SELECT person_key, tier, change, CAST(first_listed_on AS VARCHAR), days_listed FROM t ORDER BY person_key")
    };
    let row = |n: u32, tier: &str, change: &str, first: &str, days: i64| {
        vec![pk(n), tier.to_string(), change.to_string(), first.to_string(), days.to_string()]
    };
    assert_eq!(
        tiers(&first),
        vec![
            row(1, "blue", "new", "2026-11-01", 0),
            row(2, "blue", "new", "2026-11-01", 0),
            row(3, "orange", "new", "2026-11-01", 0),
            row(4, "blue", "new", "2026-11-01", 0),
        ]
    );

    // Night 2, 2026-11-21: new files arrive.
    write_csv(
        &dir.join("inbox/police/police_incidents_2026-11-21.csv"),
        &[
            &POLICE,
            &format!("{},2012-01-01,2,431102001,P2,2026-11-10,S,S01,", pk(2)),
            &format!("{},2012-01-01,1,431102001,P5,2026-11-15,S,B01,", pk(5)),
        ],
    );
    let run = pipeline_at("run", dir, &lake, &out, &key, "2026-11-21", None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let second = out.join("2026-11-21");
    assert_eq!(
        tiers(&second),
        vec![
            row(2, "orange", "up", "2026-11-01", 20),
            row(3, "blue", "down", "2026-11-01", 20),
            row(4, "blue", "same", "2026-11-01", 20),
            row(5, "blue", "new", "2026-11-21", 0),
        ]
    );
    let changes = parquet_rows(
        &second.join("changes.parquet"),
        "SELECT person_key, change, change_label, tier_before, tier_now, CAST(previous_as_of AS VARCHAR) FROM t",
    );
    let ch = |n: u32, c: &str, l: &str, before: &str, now: &str| {
        vec![pk(n), c.into(), l.into(), before.into(), now.into(), "2026-11-01".into()]
    };
    assert_eq!(
        changes,
        vec![
            ch(5, "new", "新增", "", "blue"),
            ch(2, "up", "升级", "blue", "orange"),
            ch(3, "down", "降级", "orange", "blue"),
            ch(1, "lifted", "解除", "blue", ""),
        ]
    );
    // Tasks are due from the day the person entered their tier: person 2 became orange tonight
    // (7 days), person 4 has been blue since 2026-11-01 (90 days). Person 2's 民政 task, open
    // since they were blue, stays that task: its date, and the earlier due date (orange's).
    let tasks = parquet_rows(
        &second.join("tasks.parquet"),
        &format!(
            "SELECT person_key, unit, CAST(assigned_on AS VARCHAR), CAST(due_on AS VARCHAR), CAST(days_overdue AS VARCHAR)
             FROM t WHERE person_key IN ('{}', '{}') ORDER BY person_key, unit",
            pk(2),
            pk(4)
        ),
    );
    assert_eq!(
        tasks,
        vec![
            vec![pk(2), "公安".into(), "2026-11-21".into(), "2026-11-28".into(), "0".into()],
            vec![pk(2), "民政".into(), "2026-11-01".into(), "2026-11-28".into(), "0".into()],
            vec![pk(4), "民政".into(), "2026-11-01".into(), "2027-01-30".into(), "0".into()],
        ]
    );
    // Night 1's outputs are still there, untouched by night 2.
    assert_eq!(tiers(&first).len(), 4);
}
