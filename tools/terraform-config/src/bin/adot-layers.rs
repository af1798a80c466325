//! Prints the ADOT collector layer map the pipeline module uses by default, one
//! `<region> <architecture> <layer version ARN>` line per entry, for `make check-layers`:
//! `adot-layers terraform/modules/pipeline`.

use std::process::ExitCode;

use terraform_config::Module;

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: adot-layers <pipeline module dir>");
        return ExitCode::from(2);
    };
    let layers = Module::load(&dir)
        .and_then(|module| module.variable_default("adot_layer_arns"))
        .map_err(|error| error.to_string())
        .and_then(|value| value.ok_or_else(|| format!("{dir}: adot_layer_arns has no default")));
    let layers = match layers {
        Ok(layers) => layers,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let Some(regions) = layers.as_object() else {
        eprintln!("{dir}: adot_layer_arns is not a map");
        return ExitCode::FAILURE;
    };
    for (region, architectures) in regions {
        for (architecture, arn) in architectures.as_object().into_iter().flatten() {
            println!("{region} {architecture} {}", arn.as_str().unwrap_or_default());
        }
    }
    ExitCode::SUCCESS
}
