//! humiao (护苗): a child-protection early-warning pipeline for county governance centres.
//!
//! Data flows one way: [`ingest`] (inbox files → validated, pseudonymised records) →
//! [`link`] (one person per youth, one version per record) → [`lake`] (Delta tables) →
//! [`model`] + [`score`] (the collision model as of a date) → [`report`]. The [`runner`] passes a run through the stages.
//! Every stage writes and runs its SQL with [`sql`] (literals, the checked template fill, readers).

pub mod cli;
pub mod config;
pub mod error;
pub mod ingest;
pub mod lake;
pub mod link;
pub mod model;
pub mod ops;
pub mod progress;
pub mod pseudo;
pub mod report;
pub mod retention;
pub mod review;
pub mod runner;
pub mod score;
pub mod session;
pub mod sql;
pub mod synth;
