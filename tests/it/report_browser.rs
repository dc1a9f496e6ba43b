//! `report.html` in a real browser: a synthetic county through `humiao run`, then its leadership
//! report opened in headless Chromium, which must draw it (a screenshot that is neither missing
//! nor blank), log no console message and fetch nothing over the network. Chromium is a test
//! dependency: `.ci/run` installs it, and without it these tests fail rather than pass unseen.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use humiao::pseudo::DEMO_KEY;

/// The browser window: wider than the report's 1000 px page, tall enough for the top of it.
const WINDOW: &str = "1100,3000";
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(180);

#[test]
fn the_leadership_report_of_a_run_renders_in_chromium_without_errors() {
    let chromium = chromium();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let synth = humiao(&["synth", "--youths", "2000", "--seed", "5", "--as-of", AS_OF, "--out", &s(dir)]);
    assert_eq!(synth.code, 0, "synth\n{}", synth.stderr);
    let key = key_file(dir, DEMO_KEY);
    let run = pipeline_at("run", dir, &dir.join("lake"), &dir.join("out"), &key, AS_OF, None);
    assert_eq!(run.code, 0, "run\n{}", run.stderr);

    let report = dir.join("out").join(AS_OF).join("report.html");
    assert!(report.is_file(), "humiao run writes {}", report.display());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("重点青少年风险态势月报"), "the report has its title");
    assert_self_contained(&html);

    let shot = render_and_check(&chromium, &report, dir);
    let kept = keep_screenshot(&shot, &format!("report-{AS_OF}.png"));
    println!("screenshot of the report: {}", kept.display());

    for width in [PHONE, DESKTOP] {
        assert_fits(&chromium, &report, dir, width);
    }
}

/// The same checks on any report, for a look at one by hand:
/// `HUMIAO_REPORT_HTML=/path/to/report.html cargo test --test it report_browser:: -- --ignored --nocapture`.
#[test]
#[ignore = "manual: set HUMIAO_REPORT_HTML to a report.html"]
fn a_given_report_renders_in_chromium_without_errors() {
    let Some(report) = std::env::var_os("HUMIAO_REPORT_HTML").map(PathBuf::from) else {
        panic!("set HUMIAO_REPORT_HTML to the report.html to check");
    };
    let chromium = chromium();
    let html = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{}: {e}", report.display()));
    assert_self_contained(&html);
    let tmp = tempfile::tempdir().unwrap();
    let shot = render_and_check(&chromium, &report, tmp.path());
    let kept = keep_screenshot(&shot, "report-given.png");
    println!("screenshot of the report: {}", kept.display());
    for width in [PHONE, DESKTOP] {
        assert_fits(&chromium, &report, tmp.path(), width);
    }
}

/// A phone's screen (an iPhone Plus/Max in CSS pixels) and a desktop's.
const PHONE: u32 = 414;
const DESKTOP: u32 = 1280;

/// What a copy of the report with this script appended measures in Chromium once it is laid out
/// (fonts loaded): the page's scroll width, and every element that sticks out of the window on
/// the right, but for what sits inside a box that scrolls on its own (a wide table). It tells
/// the page around it, which writes it down for `--dump-dom`.
const MEASURE: &str = r#"<script>
window.addEventListener("load", () => document.fonts.ready.then(() => {
  const w = window.innerWidth;
  const out = [];
  for (const e of document.body.querySelectorAll("*")) {
    if (e.closest(".scroll") && !e.classList.contains("scroll")) continue;
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 0.5) out.push(e.tagName.toLowerCase() + "." + e.className + " right=" + Math.round(r.right));
  }
  parent.postMessage(JSON.stringify({ inner: w, scroll: document.documentElement.scrollWidth, out: out.slice(0, 20) }), "*");
}));
</script>"#;

/// Lays the report out `width` px wide and checks that the page is no wider than that and that
/// nothing but a scroll box's content sticks out. Headless Chromium's window is at least 500 px
/// wide, so the report (a copy with [`MEASURE`] appended) is laid out in a frame of the width.
fn assert_fits(chromium: &Path, report: &Path, work: &Path, width: u32) {
    let html = std::fs::read_to_string(report).unwrap();
    let measured = work.join(format!("measure-{width}.html"));
    std::fs::write(&measured, html.replace("</body>", &format!("{MEASURE}\n</body>"))).unwrap();
    let frame = work.join(format!("frame-{width}.html"));
    std::fs::write(
        &frame,
        format!(
            "<!DOCTYPE html>\n<html><body style=\"margin:0\"><iframe src=\"measure-{width}.html\" style=\"width:{width}px;height:900px;border:0\"></iframe>\
             <pre id=\"measured\"></pre><script>window.addEventListener(\"message\", e => {{ document.getElementById(\"measured\").textContent = e.data; }});</script></body></html>\n"
        ),
    )
    .unwrap();
    let url = url::Url::from_file_path(frame.canonicalize().unwrap()).unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", work.join(format!("chromium-profile-{width}")).display()),
            &format!("--window-size={},1000", width.max(500) + 40),
            "--virtual-time-budget=5000",
            "--dump-dom",
            url.as_str(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", chromium.display()));
    assert!(out.status.success(), "Chromium failed ({})\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout);
    let json = dom
        .split("<pre id=\"measured\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .filter(|json| !json.is_empty())
        .unwrap_or_else(|| panic!("the measuring script did not run at {width} px"));
    let m: serde_json::Value = serde_json::from_str(&json.replace("&quot;", "\"").replace("&amp;", "&")).unwrap();
    println!("at {width} px: {m}");
    assert_eq!(m["inner"].as_u64(), Some(width as u64), "the window is {width} px wide");
    assert!(m["scroll"].as_u64().unwrap() <= width as u64, "at {width} px the page is {} px wide: it scrolls sideways", m["scroll"]);
    assert!(m["out"].as_array().unwrap().is_empty(), "at {width} px these stick out of the window: {}", m["out"]);
}

/// Chromium's executable, or a failure that says how to install it.
fn chromium() -> PathBuf {
    let usual = PathBuf::from("/usr/bin/chromium");
    if usual.is_file() {
        return usual;
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("chromium")).find(|p| p.is_file()));
    on_path.unwrap_or_else(|| {
        panic!(
            "Chromium is not installed, and this test needs it to render report.html: run `.ci/run` \
             (which installs it) or `apt-get install chromium`"
        )
    })
}

/// Every image and the font come from data URIs: nothing to fetch, nothing to run. (Base64 has
/// no space, quote or parenthesis, so the patterns cannot match inside a data URI.)
fn assert_self_contained(html: &str) {
    let html = html.to_ascii_lowercase();
    for outside in ["http:", "https:", " src=\"/", "url(/", "<script", "<link", "<iframe", "@import"] {
        assert!(!html.contains(outside), "the report refers to something outside itself: {outside}");
    }
    for (attr, data) in [(" src=", " src=\"data:image/png;base64,"), ("url(", "url(data:")] {
        assert_eq!(html.matches(data).count(), html.matches(attr).count(), "every {attr}… of the report is a data: URI");
    }
}

/// Renders `report` to a PNG with headless Chromium and checks what Chromium said and fetched
/// and what it drew. Returns the screenshot.
fn render_and_check(chromium: &Path, report: &Path, work: &Path) -> PathBuf {
    let profile = work.join("chromium-profile");
    let shot = work.join("report.png");
    let net_log = work.join("net-log.json");
    let stderr_path = work.join("chromium.stderr");
    let url = url::Url::from_file_path(report.canonicalize().unwrap()).unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", shot.display()),
            &format!("--window-size={WINDOW}"),
            "--enable-logging=stderr",
            "--v=0",
            &format!("--log-net-log={}", net_log.display()),
            "--virtual-time-budget=3000",
            url.as_str(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", chromium.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Chromium did not finish within {CHROMIUM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "Chromium failed ({status})\n{stderr}");

    // The page has no script, so any console message at all (an error, a warning about a blocked
    // or failed load) is a fault of the report. Chromium logs console.error at INFO level, so the
    // level is not what tells.
    let console: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Failed to load resource"))
        .collect();
    assert!(console.is_empty(), "Chromium's console says:\n{}", console.join("\n"));

    // What the page itself fetched over the network (Chromium's own background requests are
    // not the page's: only the page's carry the file:// site).
    let log = std::fs::read_to_string(&net_log).unwrap_or_else(|e| panic!("{}: {e}", net_log.display()));
    let log: serde_json::Value =
        serde_json::from_str(&log).unwrap_or_else(|e| panic!("Chromium's net log {} does not parse: {e}", net_log.display()));
    let fetched: Vec<&str> = log["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["params"]["site_for_cookies"].as_str().is_some_and(|s| s.contains("file://")))
        .filter_map(|e| e["params"]["url"].as_str())
        .collect();
    assert!(fetched.is_empty(), "the report fetched {fetched:?}");

    assert_not_blank(&shot);
    shot
}

/// The screenshot decodes and shows a page: a good share of non-white pixels in several colours.
fn assert_not_blank(shot: &Path) {
    let file = std::fs::File::open(shot).unwrap_or_else(|e| panic!("Chromium wrote no screenshot {}: {e}", shot.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{} is not a PNG: {e}", shot.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{} does not decode: {e}", shot.display()));
    let channels = frame.color_type.samples();
    assert!(channels >= 3, "the screenshot is in colour ({:?})", frame.color_type);
    let pixels = &buf[..frame.buffer_size()];
    let total = pixels.len() / channels;
    let mut ink = 0usize;
    let mut colours = std::collections::BTreeMap::<(u8, u8, u8), usize>::new();
    for px in pixels.chunks_exact(channels) {
        let (r, g, b) = (px[0], px[1], px[2]);
        if r.min(g).min(b) < 225 {
            ink += 1;
        }
        *colours.entry((r >> 4, g >> 4, b >> 4)).or_default() += 1;
    }
    let share = ink as f64 / total as f64;
    let distinct = colours.values().filter(|&&n| n >= 100).count();
    assert!(frame.width >= 1000 && frame.height >= 1000, "the screenshot is {}×{}", frame.width, frame.height);
    println!("screenshot {}×{}: {:.1}% of pixels not white, {distinct} colours", frame.width, frame.height, share * 100.0);
    assert!(share > 0.05, "the screenshot is nearly blank: {:.1}% of its pixels are not white", share * 100.0);
    assert!(distinct >= 8, "the screenshot has only {distinct} colours");
}

/// A copy of the screenshot outside the test's temporary folder (which is deleted), for a look:
/// in `HUMIAO_SCREENSHOT_DIR`, or the system's temporary folder.
fn keep_screenshot(shot: &Path, name: &str) -> PathBuf {
    let dir = std::env::var_os("HUMIAO_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("humiao-screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    let kept = dir.join(name);
    std::fs::copy(shot, &kept).unwrap();
    kept
}
