//! Rewrites the inputs/outputs reference in each module README from the module's HCL:
//! `module-reference terraform/modules/*` (what `make docs` runs).

use std::process::ExitCode;

use checks::terraform::module_reference::{BEGIN, END, reference, with_reference};
use terraform_config::Module;

fn main() -> ExitCode {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        eprintln!("usage: module-reference <module dir>...");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for dir in dirs {
        let result = Module::load(&dir).map_err(|e| e.to_string()).and_then(|module| {
            let path = module.dir().join("README.md");
            let readme = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let updated = with_reference(&readme, &reference(&module))
                .ok_or_else(|| format!("{}: add the markers {BEGIN} and {END}", path.display()))?;
            std::fs::write(&path, updated).map_err(|e| format!("{}: {e}", path.display()))
        });
        if let Err(error) = result {
            eprintln!("{error}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
