//! What a deployment check finds: each disagreement between a deployment file (a
//! Kubernetes manifest, systemd units) and the service, with the value it needs.

use std::fmt;

/// What is wrong with a deployment file, key by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatches(pub Vec<Mismatch>, pub(crate) &'static str);

/// One disagreement: the field, its value, and what it needs to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Where: a manifest field's path (`spec.template.spec.terminationGracePeriodSeconds`)
    /// or a unit's section and key (`[Service] TimeoutStopSec`).
    pub field: String,
    /// Its value, as found (or `missing`, or the default it takes).
    pub value: String,
    /// What it needs to be, and why.
    pub needed: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}: {}", self.field, self.value, self.needed)
    }
}

impl fmt::Display for Mismatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the {} disagrees with the service:", self.1)?;
        for m in &self.0 {
            writeln!(f, "- {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Mismatches {}

/// Collects mismatches for one deployment file.
pub(crate) struct Findings {
    found: Vec<Mismatch>,
    what: &'static str,
}

impl Findings {
    pub(crate) fn new(what: &'static str) -> Self {
        Findings {
            found: Vec::new(),
            what,
        }
    }

    pub(crate) fn add(&mut self, field: &str, value: String, needed: String) {
        self.found.push(Mismatch {
            field: field.to_owned(),
            value,
            needed,
        });
    }

    pub(crate) fn finish(self) -> Result<(), Mismatches> {
        if self.found.is_empty() {
            Ok(())
        } else {
            Err(Mismatches(self.found, self.what))
        }
    }
}
