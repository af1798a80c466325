//! The inputs/outputs reference of a module, rendered from its HCL, kept in its README between
//! `<!-- BEGIN REFERENCE -->` and `<!-- END REFERENCE -->` (`make docs` rewrites it; a check
//! fails when it is stale).

use terraform_config::{Module, attribute, label};

/// Where the generated reference starts in a module README.
pub const BEGIN: &str = "<!-- BEGIN REFERENCE (make docs) -->";
/// Where it ends.
pub const END: &str = "<!-- END REFERENCE -->";

/// The reference section: an inputs table and an outputs table.
pub fn reference(module: &Module) -> String {
    let mut out =
        String::from("## Inputs\n\n| name | type | default | description |\n| --- | --- | --- | --- |\n");
    for (name, block) in module.variables() {
        let body = block.body();
        let kind = attribute(body, "type")
            .map(|e| e.to_string())
            .unwrap_or_else(|| "any".to_owned());
        let default = match attribute(body, "default") {
            None => "required".to_owned(),
            Some(expression) => {
                let text = expression.to_string();
                if text.contains('\n') || text.len() > 40 {
                    "see variables.tf".to_owned()
                } else {
                    format!("`{text}`")
                }
            }
        };
        let description = attribute(body, "description").map(describe).unwrap_or_default();
        out.push_str(&format!(
            "| `{name}` | `{}` | {default} | {description} |\n",
            cell(&kind)
        ));
    }
    out.push_str("\n## Outputs\n\n| name | description |\n| --- | --- |\n");
    for block in module.blocks_of("output") {
        let name = label(block, 0).unwrap_or_default();
        let description = attribute(block.body(), "description")
            .map(describe)
            .unwrap_or_default();
        out.push_str(&format!("| `{name}` | {description} |\n"));
    }
    out
}

fn describe(expression: &hcl::Expression) -> String {
    match expression {
        hcl::Expression::String(text) => cell(text),
        other => cell(&other.to_string()),
    }
}

/// Text that is safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', " ")
}

/// `readme` with its reference section replaced by `reference`; `None` without the markers.
pub fn with_reference(readme: &str, reference: &str) -> Option<String> {
    let start = readme.find(BEGIN)? + BEGIN.len();
    let end = readme[start..].find(END)? + start;
    Some(format!("{}\n{}{}", &readme[..start], reference, &readme[end..]))
}

/// The reference section currently in `readme`.
pub fn current_reference(readme: &str) -> Option<&str> {
    let start = readme.find(BEGIN)? + BEGIN.len();
    let end = readme[start..].find(END)? + start;
    Some(readme[start..end].trim_start_matches('\n'))
}
