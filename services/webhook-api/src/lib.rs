#![doc = include_str!("../README.md")]

pub mod config;
pub mod destination;
pub mod error;
pub mod intake;
pub mod lambda;
pub mod queue;
pub mod secrets;
pub mod sink;
pub mod topic;
