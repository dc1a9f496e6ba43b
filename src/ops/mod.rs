//! Operations for nightly unattended runs: one run at a time per lake ([`lock`]), an
//! append-only hash-chained audit log of what the runs did ([`audit`]), and the long-lived
//! scheduler that starts a run at the hours a cron expression names ([`schedule`]).

pub mod audit;
pub mod lock;
pub mod schedule;
