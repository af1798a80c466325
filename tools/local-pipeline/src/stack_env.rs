//! The variables `make demo`, `make up`, `make soak` and `make chaos` pass to the local
//! pipeline: one reading of them for every command.

use terraform_config::pipeline::FanOut;

use crate::api_gateway::SamplingRule;
use crate::stack::{StackOptions, TelemetryTransport};

/// The stack's options for this workspace, with what the variables set: ports
/// (`LOCAL_PIPELINE_*_PORT`), `LOCAL_PIPELINE_BIN_DIR`, `TELEMETRY_TRANSPORT`, `SAMPLING_RATE` /
/// `SAMPLING_RESERVOIR`, `TRANSACTION_SEARCH`, `NOTIFIER`, `QUEUE` and `FAN_OUT` /
/// `FAN_OUT_RAW_MESSAGE_DELIVERY`. A value that is not valid is refused, naming the variable.
pub fn stack_options_from_env() -> Result<StackOptions, String> {
    let mut options = StackOptions::for_workspace(&crate::workspace_root());
    let port = |name: &str| -> Result<Option<u16>, String> {
        match std::env::var(name) {
            Ok(value) => value
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}={value:?} is not a port number")),
            Err(_) => Ok(None),
        }
    };
    options.moto_port = port("LOCAL_PIPELINE_MOTO_PORT")?;
    options.gateway_port = port("LOCAL_PIPELINE_GATEWAY_PORT")?.unwrap_or(0);
    options.aws_port = port("LOCAL_PIPELINE_AWS_PORT")?.unwrap_or(0);
    options.otlp_port = port("LOCAL_PIPELINE_OTLP_PORT")?.unwrap_or(0);
    options.xray_port = port("LOCAL_PIPELINE_XRAY_PORT")?.unwrap_or(0);
    if let Some(dir) = std::env::var_os("LOCAL_PIPELINE_BIN_DIR") {
        options.bin_dir = dir.into();
    }
    if let Some(value) = std::env::var(TelemetryTransport::VARIABLE)
        .ok()
        .filter(|v| !v.is_empty())
    {
        let transport = TelemetryTransport::parse(&value).ok_or_else(|| {
            format!(
                "{}={value:?} is not valid; expected adot-collector or xray-udp",
                TelemetryTransport::VARIABLE
            )
        })?;
        options.transport = Some(transport);
    }
    options.sampling = sampling_from_env()?;
    match std::env::var("TRANSACTION_SEARCH").as_deref() {
        Err(_) | Ok("") | Ok("on") => {}
        Ok("off") => options.trace_storage.transaction_search = false,
        Ok(other) => {
            return Err(format!(
                "TRANSACTION_SEARCH={other:?} is not valid; expected on or off"
            ));
        }
    }
    match std::env::var("NOTIFIER").as_deref() {
        Err(_) | Ok("") | Ok("on") => {}
        Ok("off") => {
            options
                .pipeline_variables
                .insert("notifier_enabled".to_owned(), false.into());
        }
        Ok(other) => return Err(format!("NOTIFIER={other:?} is not valid; expected on or off")),
    }
    match std::env::var("QUEUE").as_deref() {
        Err(_) | Ok("") | Ok("standard") => {}
        Ok("fifo") => {
            // A FIFO queue's event source mapping takes no batching window.
            options.pipeline_variables.insert("fifo".to_owned(), true.into());
            options
                .pipeline_variables
                .insert("batching_window_seconds".to_owned(), 0.into());
        }
        Ok(other) => return Err(format!("QUEUE={other:?} is not valid; expected standard or fifo")),
    }
    if let Some(value) = std::env::var("FAN_OUT").ok().filter(|v| !v.is_empty()) {
        let raw = match std::env::var("FAN_OUT_RAW_MESSAGE_DELIVERY").as_deref() {
            Err(_) | Ok("") | Ok("true") => true,
            Ok("false") => false,
            Ok(other) => {
                return Err(format!(
                    "FAN_OUT_RAW_MESSAGE_DELIVERY={other:?} is not valid; expected true or false"
                ));
            }
        };
        let fan_out = FanOut::parse(&value, raw)
            .ok_or_else(|| format!("FAN_OUT={value:?} is not valid; expected none or sns"))?;
        options.fan_out = Some(fan_out);
    }
    Ok(options)
}

/// `SAMPLING_RATE` and `SAMPLING_RESERVOIR`, when either is set (an unset one is then a rate of
/// 1, or no reservoir).
fn sampling_from_env() -> Result<Option<SamplingRule>, String> {
    let read = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let (rate, reservoir) = (read("SAMPLING_RATE"), read("SAMPLING_RESERVOIR"));
    if rate.is_none() && reservoir.is_none() {
        return Ok(None);
    }
    let fixed_rate = match rate {
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|rate| (0.0..=1.0).contains(rate))
            .ok_or_else(|| format!("SAMPLING_RATE={text:?} is not valid; expected a share from 0 to 1"))?,
        None => 1.0,
    };
    let reservoir_per_second = match reservoir {
        Some(text) => text.parse().map_err(|_| {
            format!("SAMPLING_RESERVOIR={text:?} is not valid; expected a whole number of requests a second")
        })?,
        None => 0,
    };
    Ok(Some(SamplingRule {
        reservoir_per_second,
        fixed_rate,
    }))
}
