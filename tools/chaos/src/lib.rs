#![doc = include_str!("../README.md")]

pub mod function_logs;
pub mod report;
pub mod run;
pub mod schedule;
pub mod sender;
