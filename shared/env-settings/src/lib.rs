#![doc = include_str!("../README.md")]

use std::fmt;
use std::ops::RangeBounds;
use std::str::FromStr;

/// Reads one component's settings from environment variables, collecting every problem instead
/// of stopping at the first: a cold start that fails names all of them at once.
pub struct EnvSettings<L> {
    component: &'static str,
    lookup: L,
    problems: Vec<ConfigProblem>,
}

impl<L> fmt::Debug for EnvSettings<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvSettings")
            .field("component", &self.component)
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl<L: Fn(&str) -> Option<String>> EnvSettings<L> {
    /// Settings of `component` (named in the report), read through `lookup`: the process
    /// environment in production, a table in tests.
    pub fn new(component: &'static str, lookup: L) -> Self {
        Self {
            component,
            lookup,
            problems: Vec::new(),
        }
    }

    /// The variable's value, trimmed; unset and empty are the same.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// A variable that must be set; `hint` says what to set it to.
    pub fn required(&mut self, name: &'static str, hint: &'static str) -> Option<String> {
        let value = self.get(name);
        if value.is_none() {
            self.problems.push(ConfigProblem::missing(name, hint));
        }
        value
    }

    /// A value `parse` accepts, or none when unset; anything else is reported as not what is
    /// `expected`.
    pub fn parse<T>(
        &mut self,
        name: &'static str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let value = self.get(name)?;
        let parsed = parse(&value);
        if parsed.is_none() {
            self.problems.push(ConfigProblem::new(name, &value, expected));
        }
        parsed
    }

    /// A number within `range`, or none when unset.
    pub fn number<T: FromStr + PartialOrd>(
        &mut self,
        name: &'static str,
        range: impl RangeBounds<T>,
        expected: &str,
    ) -> Option<T> {
        self.parse(name, expected, |value| {
            value.parse().ok().filter(|number| range.contains(number))
        })
    }

    /// `true` or `false` exactly, or none when unset.
    pub fn flag(&mut self, name: &'static str) -> Option<bool> {
        self.parse(name, "true or false", |value| match value {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        })
    }

    /// The value of a setting read by a parser of its own, its problem kept for the report.
    pub fn take<T>(&mut self, read: Result<T, ConfigProblem>) -> Option<T> {
        read.map_err(|problem| self.problems.push(problem)).ok()
    }

    /// Records a problem a cross-variable rule found.
    pub fn report(&mut self, problem: ConfigProblem) {
        self.problems.push(problem);
    }

    /// The lookup, for parsers that read their own variables.
    pub fn lookup(&self) -> &L {
        &self.lookup
    }

    /// The configuration built from what was read, or every problem found. `config` is `None`
    /// when a part of it could not be read, which has been reported.
    pub fn finish<T>(self, config: Option<T>) -> Result<T, ConfigError> {
        match config {
            Some(config) if self.problems.is_empty() => Ok(config),
            _ => Err(ConfigError {
                component: self.component,
                problems: self.problems,
            }),
        }
    }
}

/// One missing or invalid setting, named by its environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// A required variable is unset or empty; `hint` says what to set it to.
    Missing {
        /// The variable.
        variable: &'static str,
        /// What to set it to.
        hint: &'static str,
    },
    /// A variable holds a value outside what is accepted.
    Invalid {
        /// The variable.
        variable: &'static str,
        /// Its value, as set.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A variable holds a secret that cannot be used; the value is never kept.
    UnusableSecret {
        /// The variable.
        variable: &'static str,
        /// Why it cannot be used, without the value.
        reason: &'static str,
    },
}

impl ConfigProblem {
    /// `variable` holds `value`, which is not what is `expected`.
    pub fn new(variable: &'static str, value: &str, expected: impl Into<String>) -> Self {
        Self::Invalid {
            variable,
            value: value.to_owned(),
            expected: expected.into(),
        }
    }

    /// `variable` is required and not set; `hint` says what to set it to.
    pub fn missing(variable: &'static str, hint: &'static str) -> Self {
        Self::Missing { variable, hint }
    }

    /// `variable` holds a secret that cannot be used, for `reason`; the value is not kept.
    pub fn unusable_secret(variable: &'static str, reason: &'static str) -> Self {
        Self::UnusableSecret { variable, reason }
    }

    /// The variable the problem is about.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::Missing { variable, .. }
            | Self::Invalid { variable, .. }
            | Self::UnusableSecret { variable, .. } => variable,
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { variable, hint } => write!(f, "{variable} is not set; {hint}"),
            Self::Invalid {
                variable,
                value,
                expected,
            } => write!(f, "{variable}={value:?} is not valid; expected {expected}"),
            Self::UnusableSecret { variable, reason } => write!(f, "{variable} {reason}"),
        }
    }
}

/// Every problem found in one component's settings, displayed on one line so a cold-start
/// failure names all of them at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The component whose settings these are, e.g. `telemetry` or `webhook-api`.
    pub component: &'static str,
    /// Every problem, in the order the settings were read.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} configuration: ", self.component)?;
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
