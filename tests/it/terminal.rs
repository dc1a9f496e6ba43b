//! The analyst's terminal (issue 13, point 12): logs without colour codes in a file or pipe, log
//! times in the county's time zone, a last line that says what the exit code means, the exit
//! codes in `--help` and the README, the summary counted against the minors of the lake, and
//! `humiao inbox set-aside` for a rejected file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;
use humiao::cli::EXIT_CODES;
use humiao::pseudo::DEMO_KEY;

const BROKEN: &str = "education/education_conduct_broken.csv";
const GOOD: &str = "police/police_incidents_1.csv";

/// A small county: two minors (one with a recent serious misconduct, listed; one whose only
/// record is years old) and an adult, in one police file, plus a conduct file whose header
/// lacks `conduct_code` (rejected whole).
fn county() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    townships(&dir);
    write_csv(
        &dir.join("inbox").join(GOOD),
        &[
            &POLICE,
            &format!("{},2012-03-03,1,431102001,P1,2026-10-01,S,S01,", pk(1)),
            &format!("{},2013-04-04,2,431102002,P2,2021-05-01,S,S01,", pk(2)),
            &format!("{},2000-01-01,1,431102001,P3,2026-10-02,S,S01,", pk(3)),
        ],
    );
    // the header lacks the table's code column (conduct_code), which the contract requires
    let code = contract("education_conduct").signal.code;
    let header = CONDUCT.split(',').filter(|c| *c != code).collect::<Vec<_>>().join(",");
    write_csv(&dir.join("inbox").join(BROKEN), &[&header, &format!("{},2012-03-03,1,431102001,E1,SCH1,2026-10-05", pk(1))]);
    let key = key_file(&dir, DEMO_KEY);
    (tmp, key)
}

fn run(dir: &Path, key: &Path) -> Run {
    pipeline_at("run", dir, &dir.join("lake"), &dir.join("out"), key, AS_OF, None)
}

fn set_aside(dir: &Path, key: &Path, file: &str) -> Run {
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    let pipeline = s(root().join("pipelines/demo.toml"));
    let (inbox, lake, out, key) = (s(dir.join("inbox")), s(dir.join("lake")), s(dir.join("out")), s(key.to_path_buf()));
    humiao(&["inbox", "set-aside", "--pipeline", &pipeline, "--inbox", &inbox, "--lake", &lake, "--out", &out, "--key-file", &key, file])
}

fn last(text: &str) -> &str {
    text.lines().last().unwrap_or("")
}

/// The demo pipeline with every path absolute and `[run] time_zone = zone`.
fn pipeline_in(dir: &Path, zone: &str) -> PathBuf {
    let demo = std::fs::read_to_string(root().join("pipelines/demo.toml")).unwrap();
    let abs = |p: &str| root().join("pipelines").join(p).to_string_lossy().into_owned();
    let text = demo
        .replace("tables = \"tables\"", &format!("tables = {:?}", abs("tables")))
        .replace("codebook = \"../models/codebook.toml\"", &format!("codebook = {:?}", abs("../models/codebook.toml")))
        .replace("model = \"../models/collision.toml\"", &format!("model = {:?}", abs("../models/collision.toml")))
        .replace("[run]\n", &format!("[run]\ntime_zone = {zone:?}\n"));
    assert!(text.contains("time_zone"), "the demo pipeline has a [run] section");
    let path = dir.join("county.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The log lines of a process's stderr (those a level names), each with its time.
fn log_lines(stderr: &str) -> Vec<(chrono::DateTime<chrono::FixedOffset>, &str)> {
    stderr
        .lines()
        .filter(|l| l.contains(" INFO ") || l.contains(" WARN ") || l.contains(" ERROR "))
        .map(|l| {
            let stamp = l.split_whitespace().next().unwrap();
            (chrono::DateTime::parse_from_rfc3339(stamp).unwrap_or_else(|e| panic!("{l:?} starts with no RFC 3339 time: {e}")), l)
        })
        .collect()
}

/// An SGR (colour) escape sequence `ESC [ digits;… m` in `text`.
fn has_colour_codes(text: &str) -> bool {
    text.match_indices("\x1b[").any(|(i, _)| {
        let rest = &text[i + 2..];
        let n = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b';').count();
        rest.as_bytes().get(n) == Some(&b'm')
    })
}

/// Runs the binary with its stderr on a pseudo-terminal; returns what it wrote there.
fn on_a_terminal(args: &[&str], env: &[(&str, &str)]) -> String {
    use std::os::fd::FromRawFd;
    // SAFETY: plain libc calls on a fresh descriptor, checked; ptsname's buffer is copied at once.
    let (master, slave) = unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "no pseudo-terminal");
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let name = std::ffi::CStr::from_ptr(libc::ptsname(master)).to_string_lossy().into_owned();
        (std::fs::File::from_raw_fd(master), std::fs::OpenOptions::new().read(true).write(true).open(name).unwrap())
    };
    let reader = std::thread::spawn(move || {
        let (mut master, mut all, mut buf) = (master, Vec::new(), [0u8; 4096]);
        // EIO once every writer of the terminal is gone.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let child = Command::new(env!("CARGO_BIN_EXE_humiao"))
        .args(args)
        .env("HUMIAO_LOG", "warn,humiao=info,deltalake_core=error,delta_kernel=error")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap();
    String::from_utf8_lossy(&reader.join().unwrap()).into_owned()
}

#[test]
fn logs_in_a_pipe_carry_no_colour_codes_and_the_time_of_the_county() {
    let (tmp, key) = county();
    let dir = tmp.path();
    let run = run(dir, &key);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(!run.stderr.contains("\x1b["), "escape codes in a piped log:\n{}", run.stderr);
    let lines = log_lines(&run.stderr);
    assert!(lines.len() > 3, "{}", run.stderr);
    for (time, line) in &lines {
        assert_eq!(time.offset().local_minus_utc(), 8 * 3600, "not China time: {line}");
        let off = (chrono::Utc::now() - time.to_utc()).num_seconds();
        assert!((0..600).contains(&off), "{line} is not the time it was written");
    }

    // The pipeline's own zone, once it is read (Kathmandu: +05:45 all year).
    let pipeline = pipeline_in(dir, "Asia/Kathmandu");
    let args = pipeline_args("score", &pipeline, dir, &dir.join("lake"), &dir.join("out"), &key, AS_OF, None);
    let score = humiao(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(score.code, 0, "{}", score.stderr);
    let lines = log_lines(&score.stderr);
    assert!(!lines.is_empty(), "{}", score.stderr);
    for (time, line) in lines {
        assert_eq!(time.offset().local_minus_utc(), 5 * 3600 + 45 * 60, "not the pipeline's zone: {line}");
        assert!(line.contains("+05:45"), "{line}");
    }

    // A zone that is none is the pipeline's error, exit 2.
    let bad = pipeline_in(dir, "Asia/Atlantis");
    let args = pipeline_args("score", &bad, dir, &dir.join("lake"), &dir.join("out"), &key, AS_OF, None);
    let score = humiao(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(score.code, 2, "{}", score.stderr);
    assert!(score.stderr.contains("time_zone") && score.stderr.contains("Asia/Atlantis"), "{}", score.stderr);
}

#[test]
fn logs_on_a_terminal_are_coloured_unless_no_color_is_set() {
    let (tmp, key) = county();
    let dir = tmp.path();
    let args = pipeline_args("ingest", &root().join("pipelines/demo.toml"), dir, &dir.join("lake"), &dir.join("out"), &key, AS_OF, None);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let coloured = on_a_terminal(&args, &[]);
    assert!(coloured.contains("rejected") && has_colour_codes(&coloured), "no colour on a terminal:\n{coloured:?}");
    let plain = on_a_terminal(&args, &[("NO_COLOR", "1")]);
    assert!(plain.contains("rejected") && !has_colour_codes(&plain), "colour despite NO_COLOR:\n{plain:?}");
}

#[test]
fn the_last_line_says_what_the_exit_code_means() {
    let (tmp, key) = county();
    let dir = tmp.path();
    let first = run(dir, &key);
    assert_eq!(first.code, 3, "{}", first.stderr);
    assert_eq!(last(&first.stdout), "完成，但有 1 个文件被拒收（退出码 3）", "{}", first.stdout);
    assert!(first.stderr.contains(&format!("rejected {BROKEN}")) && first.stderr.contains("humiao inbox set-aside"), "{}", first.stderr);

    // Listed against the minors the lake knows on the as-of date: two (the adult is not one),
    // whatever the model scored.
    let summary = first.stdout.lines().find(|l| l.starts_with("listed ")).unwrap();
    assert!(summary.starts_with("listed 1 of 2 minors:"), "{summary}");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("out").join(AS_OF).join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["row_counts"]["persons_scored"].is_u64(), "persons_scored stays in the manifest");

    let score = pipeline_at("score", dir, &dir.join("lake"), &dir.join("out"), &key, AS_OF, None);
    assert_eq!(score.code, 0, "{}", score.stderr);
    assert_eq!(last(&score.stdout), "完成（退出码 0）", "{}", score.stdout);

    let ingest = ingest(dir, &key);
    assert_eq!(ingest.code, 3, "{}", ingest.stderr);
    assert_eq!(last(&ingest.stdout), "完成，但有 1 个文件被拒收（退出码 3）", "{}", ingest.stdout);

    // An error ends with its code's meaning too, after the `error:` line.
    let missing = pipeline_at("run", &dir.join("none"), &dir.join("lake"), &dir.join("out"), &key, AS_OF, None);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("error: "), "{}", missing.stderr);
    assert_eq!(last(&missing.stderr), "未完成：命令行、配置或密钥文件有误，须修改后重新运行（退出码 2）", "{}", missing.stderr);
}

#[test]
fn help_lists_every_exit_code_as_the_readme_does() {
    let help = humiao(&["--help"]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for e in EXIT_CODES {
        assert!(help.stdout.contains(&format!("  {}  {}\n", e.code, e.meaning)), "--help lacks exit code {}:\n{}", e.code, help.stdout);
        assert!(readme.contains(&format!("| {} | {} |", e.code, e.meaning)), "README's table lacks exit code {}", e.code);
    }
    // Every code the README's table lists is one of them.
    let table: Vec<&str> = readme.lines().filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()) && l.matches(" | ").count() == 1).collect();
    assert_eq!(table.len(), EXIT_CODES.len(), "{table:?}");
}

#[test]
fn a_rejected_file_set_aside_is_recorded_and_the_next_run_exits_0() {
    let (tmp, key) = county();
    let dir = tmp.path();
    assert_eq!(run(dir, &key).code, 3);

    // Not before its rejection is known: an accepted file, one outside the inbox, one not there.
    let accepted = set_aside(dir, &key, GOOD);
    assert_eq!(accepted.code, 2, "{}", accepted.stderr);
    assert!(accepted.stderr.contains(GOOD) && accepted.stderr.contains("was not rejected"), "{}", accepted.stderr);
    assert!(dir.join("inbox").join(GOOD).exists(), "an accepted file was moved");
    let outside = dir.join("county.key").to_string_lossy().into_owned();
    let refused = set_aside(dir, &key, &outside);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("is not in the inbox"), "{}", refused.stderr);

    let done = set_aside(dir, &key, BROKEN);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let moved = dir.join("inbox/rejected").join(BROKEN);
    assert!(moved.exists() && !dir.join("inbox").join(BROKEN).exists(), "{}", done.stdout);
    assert!(done.stdout.contains(BROKEN) && done.stdout.contains(&format!("rejected/{BROKEN}")), "{}", done.stdout);

    // Recorded in the audit log, which still verifies.
    let log = std::fs::read_to_string(dir.join("lake/audit.jsonl")).unwrap();
    let entry: serde_json::Value =
        log.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).find(|e| e["kind"] == "file_set_aside").expect("a file_set_aside entry");
    assert_eq!(entry["detail"]["file"], BROKEN);
    assert_eq!(entry["detail"]["to"], format!("rejected/{BROKEN}"));
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    let verify = humiao(&["audit", "verify", "--pipeline", &s(root().join("pipelines/demo.toml")), "--lake", &s(dir.join("lake")), "--key-file", &s(key.clone())]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

    // The next run does not read inbox/rejected/: clean.
    let second = run(dir, &key);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(last(&second.stdout), "完成（退出码 0）", "{}", second.stdout);
    let q = quality(dir);
    assert!(!q.to_string().contains("rejected/"), "the set-aside folder was read: {q}");

    // A file of the same name rejected again is set aside beside it, not over it.
    std::fs::copy(&moved, dir.join("inbox").join(BROKEN)).unwrap();
    std::fs::write(&moved, "kept").unwrap();
    assert_eq!(run(dir, &key).code, 3);
    let again = set_aside(dir, &key, BROKEN);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&moved).unwrap(), "kept");
    assert!(dir.join("inbox/rejected/education/education_conduct_broken-2.csv").exists(), "{}", again.stdout);
}
