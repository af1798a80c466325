//! Test-only support shared by the workspace's tests, so no test file carries its own copy:
//! spans captured in memory through the real SDK pipeline, and queries over them.

pub mod spans;
