//! humiao's integration tests, in one test binary: each module is one area (the files that were
//! separate test binaries under `tests/`), and all of them share the helpers of [`common`]. One
//! binary links DataFusion and deltalake once instead of once per file. Run one module with
//! `cargo test --test it trend::`, one test with its path (`cargo test --test it
//! trend::five_nights_`). Tests run in parallel threads of one process: none may set the
//! process's environment or current folder (pass variables to the child `humiao` with
//! `humiao_with_env`), and each works in its own temporary folder.

mod common;

mod as_of_guard;
mod boundaries;
mod config_facts;
mod contracts;
mod crash;
mod hardening;
mod ingest;
mod list_rows;
mod model_changes;
mod model_e2e;
mod model_rules;
mod mutations;
mod ops;
mod print;
mod quality_rebuild;
mod report_browser;
mod retention;
mod review;
mod sql_golden;
mod terminal;
mod trend;
