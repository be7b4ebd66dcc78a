//! What a check of a deployment against the service finds: field by field, each
//! with a severity. Shared by every checker (`kubernetes::check`, and any other
//! that reads a deployment's own format).

use std::fmt;

/// How much a [`Finding`] matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// The deployment and the service disagree: a shutdown would be cut short,
    /// a signal missed, traffic sent to a pod that is leaving.
    Error,
    /// Worth a look, but right or wrong depending on what surrounds the service
    /// (a load balancer that probes the pod itself, a sidecar hooks call through).
    Advice,
}

impl Severity {
    /// `error` or `advice`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Advice => "advice",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: the field, its value, and what it needs to be (and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Whether it is an error or advice.
    pub severity: Severity,
    /// The field's path, e.g. `spec.template.spec.terminationGracePeriodSeconds`.
    pub field: String,
    /// Its value, as found (or `missing`).
    pub value: String,
    /// What it needs to be, and why.
    pub needed: String,
}

impl Finding {
    /// An [`Severity::Error`] finding.
    pub fn error(
        field: impl Into<String>,
        value: impl Into<String>,
        needed: impl Into<String>,
    ) -> Self {
        Finding {
            severity: Severity::Error,
            field: field.into(),
            value: value.into(),
            needed: needed.into(),
        }
    }

    /// An [`Severity::Advice`] finding.
    pub fn advice(
        field: impl Into<String>,
        value: impl Into<String>,
        needed: impl Into<String>,
    ) -> Self {
        Finding {
            severity: Severity::Advice,
            ..Finding::error(field, value, needed)
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} is {}: {}",
            self.severity, self.field, self.value, self.needed
        )
    }
}

/// Everything a check found, and what it checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Findings {
    /// What was checked, with which values: e.g. `Deployment web (document 2 of
    /// 3), container web, grace 30s (compiled), drain_delay 10s (compiled)`.
    pub checked: String,
    /// The findings, errors and advice, in the order the rules ran.
    pub findings: Vec<Finding>,
}

impl Findings {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        (self.findings.iter()).filter(|f| f.severity == Severity::Error)
    }

    /// The advice.
    pub fn advice(&self) -> impl Iterator<Item = &Finding> {
        (self.findings.iter()).filter(|f| f.severity == Severity::Advice)
    }

    /// `Err(self)` when there is an error, `Ok(self)` (perhaps with advice) otherwise.
    pub fn into_result(self) -> Result<Findings, Findings> {
        if self.has_errors() {
            Err(self)
        } else {
            Ok(self)
        }
    }
}

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.errors().count();
        let advice = self.findings.len() - errors;
        writeln!(
            f,
            "checked {}: {errors} error(s), {advice} advice",
            self.checked
        )?;
        for finding in &self.findings {
            writeln!(f, "- {finding}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Findings {}
