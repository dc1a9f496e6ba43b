//! Reports people read. This module is the only user of the XLSX writer.

pub mod quality;
