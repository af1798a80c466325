//! The pipeline's resources in moto without the functions, for running one function alone under
//! `cargo lambda watch`: the queue, DLQ, table and secret with Terraform's names, and an env file
//! holding every variable either function needs to use them.

use std::path::{Path, PathBuf};

use moto_server::MotoServer;
use terraform_config::pipeline::PipelineSettings;

use crate::provision::{Provisioned, provision};
use crate::stack::{LOCAL_ENVIRONMENT, StackError, StackOptions};

/// The signing secret `events/lambda/webhook-api-request.json` is signed with. A sample, not a
/// secret: it is only ever set for the local run.
pub const SAMPLE_SIGNING_SECRET: &str = "whsec_local_sample_only";
/// The sample request is signed once, at a fixed time (2026-01-01): the local run accepts its
/// age instead of re-signing it (Stripe's default tolerance is 300 s).
pub const SAMPLE_TOLERANCE_SECS: u64 = 10 * 365 * 24 * 3600;

/// moto with the resources, running until dropped.
#[derive(Debug)]
pub struct Resources {
    /// The moto server holding them.
    pub moto: MotoServer,
    /// The pipeline's settings, from Terraform.
    pub settings: PipelineSettings,
    /// What was created.
    pub provisioned: Provisioned,
}

impl Resources {
    /// Starts moto and creates the resources.
    pub async fn start(options: &StackOptions) -> Result<Self, StackError> {
        let settings = PipelineSettings::load(&options.workspace_root.join("terraform"), LOCAL_ENVIRONMENT)?;
        std::fs::create_dir_all(&options.log_dir)
            .map_err(|error| StackError::Scenario(format!("{}: {error}", options.log_dir.display())))?;
        let root = options.workspace_root.clone();
        let (port, log) = (options.moto_port, options.log_dir.join("moto.log"));
        let moto = tokio::task::spawn_blocking(move || MotoServer::start_with(&root, port, &log))
            .await
            .map_err(|error| StackError::Scenario(format!("start-up task failed: {error}")))??;
        let visibility_timeout = settings.queue_visibility_timeout_seconds;
        let provisioned = provision(&moto.sdk_config().await, &settings, visibility_timeout).await?;
        Ok(Self {
            moto,
            settings,
            provisioned,
        })
    }

    /// Every variable either function needs against these resources, with spans printed to
    /// the console (no collector runs).
    pub fn function_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .moto
            .env()
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        env.extend(
            [
                ("WEBHOOK_QUEUE_URL", self.provisioned.queue_url.clone()),
                ("STRIPE_WEBHOOK_SECRET", SAMPLE_SIGNING_SECRET.to_owned()),
                (
                    "STRIPE_SIGNATURE_TOLERANCE_SECS",
                    SAMPLE_TOLERANCE_SECS.to_string(),
                ),
                ("WEBHOOK_TABLE_NAME", self.provisioned.table_name.clone()),
                ("OTEL_TRACES_EXPORTER", "console".to_owned()),
                ("RUST_LOG", "info".to_owned()),
            ]
            .map(|(key, value)| (key.to_owned(), value)),
        );
        env
    }

    /// Writes [`Self::function_env`] as `KEY=VALUE` lines for `cargo lambda watch --env-file`.
    pub fn write_env_file(&self, path: &Path) -> Result<PathBuf, StackError> {
        let text: String = self
            .function_env()
            .iter()
            .map(|(key, value)| format!("{key}={value}\n"))
            .collect();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|error| StackError::Scenario(format!("{}: {error}", dir.display())))?;
        }
        std::fs::write(path, text)
            .map_err(|error| StackError::Scenario(format!("{}: {error}", path.display())))?;
        Ok(path.to_path_buf())
    }
}
