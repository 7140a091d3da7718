//! Running the benchmark's GPT-4o judge, without I/O: the judge's messages built exactly as the
//! benchmark's agent.py builds them, the join that supplies their fields, a scheduler deciding
//! what to send when (shared by the CLI and the page, which own the transport), the OpenAI wire
//! format, and the judged rows that `medhall score` and the page read back.

pub mod messages;
pub mod openai;
pub mod plan;
pub mod prompt;
pub mod provenance;
pub mod rows;
pub mod run;
pub mod scheduler;
pub mod types;
