//! The hooks as a graph: who waits for whom (`after`, and `order` as a chain), the
//! rules that graph must keep (no unknown name, no self-dependency, no cycle, no
//! edge between the start and the end of the shutdown), and its critical path, the
//! time the hooks need when everything that can run concurrently does.
//!
//! One `const fn` does all of it, so the same code checks a `#[service]` at compile
//! time (its verdict formatted into the build error) and a builder at
//! [`build`](crate::Builder::build) (its verdict turned into a [`ConfigError`]).
//!
//! [`ConfigError`]: crate::ConfigError

use crate::__private::ConstBuf;

/// The most hooks one service may have (the compile-time check works in fixed arrays).
pub(crate) const MAX_HOOKS: usize = 64;

/// The time kept back at the end of `grace`, in milliseconds: half of it guarantees
/// workers and calls a moment to answer quit even when everything else is tight, the
/// other half is for logging the report before the watchdog fires.
pub(crate) const MARGIN_MS: u64 = 100;

/// One hook an `after` list names: its identity (a path, or a builder name) and the
/// name shown in messages.
#[derive(Clone, Copy, Debug)]
pub struct Dep<'a> {
    /// What tells hooks apart: `my_crate::db::close` for an attribute, the name for a
    /// builder hook.
    pub id: &'a str,
    /// What messages show: `db::close`.
    pub name: &'a str,
}

/// One hook, as the graph sees it.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    /// Its identity and name.
    pub dep: Dep<'a>,
    /// `order = N`, if given: it then waits for the ordered hook just below it.
    pub order: Option<u32>,
    /// Its timeout in milliseconds.
    pub timeout_ms: u64,
    /// Whether it runs at the start of the shutdown.
    pub at_start: bool,
    /// The hooks it waits for.
    pub after: &'a [Dep<'a>],
}

/// What is wrong with a graph, if anything; indices are into the nodes given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Nothing.
    None,
    /// More than [`MAX_HOOKS`] hooks.
    TooMany,
    /// Hook `hook` waits for its `dep`-th `after` entry, which is no hook of the service.
    Unknown {
        /// The hook.
        hook: usize,
        /// The position in its `after` list.
        dep: usize,
    },
    /// Hook `hook` lists itself in `after`.
    SelfDependency {
        /// The hook.
        hook: usize,
    },
    /// Hook `hook` waits for `dep`, which runs in the other part of the shutdown.
    CrossPhase {
        /// The hook.
        hook: usize,
        /// The hook it names.
        dep: usize,
    },
    /// The hooks wait for each other in a circle, starting at `hook`.
    Cycle {
        /// The first hook of the cycle found.
        hook: usize,
    },
}

impl Problem {
    /// The hook the problem is reported at.
    pub(crate) const fn hook(&self) -> Option<usize> {
        match *self {
            Problem::None | Problem::TooMany => None,
            Problem::Unknown { hook, .. }
            | Problem::SelfDependency { hook }
            | Problem::CrossPhase { hook, .. }
            | Problem::Cycle { hook } => Some(hook),
        }
    }
}

/// A path through the graph: the hooks in the order they run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chain {
    hooks: [usize; MAX_HOOKS + 1],
    len: usize,
    /// The sum of the chain's timeouts, in milliseconds.
    pub(crate) ms: u64,
}

impl Chain {
    const EMPTY: Chain = Chain {
        hooks: [0; MAX_HOOKS + 1],
        len: 0,
        ms: 0,
    };

    /// The hooks of the chain, first to run first.
    pub(crate) fn hooks(&self) -> &[usize] {
        &self.hooks[..self.len]
    }
}

/// The verdict on a graph: its problem, or its critical paths.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Analysis {
    /// What is wrong, if anything (the paths are empty then).
    pub(crate) problem: Problem,
    /// For a cycle: the hooks around it, the first repeated at the end.
    pub(crate) cycle: Chain,
    /// The longest chain of start hooks.
    pub(crate) start: Chain,
    /// The longest chain of end hooks.
    pub(crate) end: Chain,
}

const NONE: usize = usize::MAX;

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn find(nodes: &[Node<'_>], id: &str) -> usize {
    let mut i = 0;
    while i < nodes.len() {
        if str_eq(nodes[i].dep.id, id) {
            return i;
        }
        i += 1;
    }
    NONE
}

/// The ordered hook of the same part of the shutdown just below `i`'s order.
const fn order_pred(nodes: &[Node<'_>], i: usize) -> usize {
    let Some(mine) = nodes[i].order else {
        return NONE;
    };
    let mut best = NONE;
    let mut best_order = 0;
    let mut j = 0;
    while j < nodes.len() {
        if let Some(o) = nodes[j].order
            && j != i
            && nodes[j].at_start == nodes[i].at_start
            && o < mine
            && (best == NONE || o > best_order)
        {
            best = j;
            best_order = o;
        }
        j += 1;
    }
    best
}

/// The `k`-th hook `i` waits for (its `after` entries, then its order predecessor);
/// `NONE` past the end.
const fn edge(nodes: &[Node<'_>], i: usize, k: usize) -> usize {
    let after = nodes[i].after;
    if k < after.len() {
        find(nodes, after[k].id)
    } else if k == after.len() {
        order_pred(nodes, i)
    } else {
        NONE
    }
}

/// Every hook `i` waits for, by index.
pub(crate) fn deps_of(nodes: &[Node<'_>], i: usize) -> Vec<usize> {
    (0..edge_count(nodes, i))
        .map(|k| edge(nodes, i, k))
        .filter(|&j| j != NONE)
        .collect()
}

const fn edge_count(nodes: &[Node<'_>], i: usize) -> usize {
    nodes[i].after.len() + 1
}

/// Checks the graph and finds its critical paths.
pub(crate) const fn analyze(nodes: &[Node<'_>]) -> Analysis {
    let mut out = Analysis {
        problem: Problem::None,
        cycle: Chain::EMPTY,
        start: Chain::EMPTY,
        end: Chain::EMPTY,
    };
    let n = nodes.len();
    if n > MAX_HOOKS {
        out.problem = Problem::TooMany;
        return out;
    }
    // Names, self-dependencies, phases.
    let mut i = 0;
    while i < n {
        let after = nodes[i].after;
        let mut k = 0;
        while k < after.len() {
            let j = find(nodes, after[k].id);
            if j == NONE {
                out.problem = Problem::Unknown { hook: i, dep: k };
                return out;
            }
            if j == i {
                out.problem = Problem::SelfDependency { hook: i };
                return out;
            }
            if nodes[j].at_start != nodes[i].at_start {
                out.problem = Problem::CrossPhase { hook: i, dep: j };
                return out;
            }
            k += 1;
        }
        i += 1;
    }
    // Cycles: a depth-first walk along the edges, with the path on a stack.
    let mut color = [0u8; MAX_HOOKS]; // 0 unseen, 1 on the path, 2 done
    let mut root = 0;
    while root < n {
        if color[root] == 0 {
            let mut stack = [0usize; MAX_HOOKS];
            let mut next = [0usize; MAX_HOOKS];
            let mut depth = 1;
            stack[0] = root;
            next[0] = 0;
            color[root] = 1;
            while depth > 0 {
                let top = stack[depth - 1];
                let k = next[depth - 1];
                if k >= edge_count(nodes, top) {
                    color[top] = 2;
                    depth -= 1;
                    continue;
                }
                next[depth - 1] = k + 1;
                let j = edge(nodes, top, k);
                if j == NONE || color[j] == 2 {
                    continue;
                }
                if color[j] == 1 {
                    // The cycle is the path from `j` to `top`, then `j` again.
                    let mut from = 0;
                    while stack[from] != j {
                        from += 1;
                    }
                    let mut c = Chain::EMPTY;
                    let mut p = from;
                    while p < depth {
                        c.hooks[c.len] = stack[p];
                        c.len += 1;
                        p += 1;
                    }
                    c.hooks[c.len] = j;
                    c.len += 1;
                    out.cycle = c;
                    out.problem = Problem::Cycle { hook: j };
                    return out;
                }
                color[j] = 1;
                stack[depth] = j;
                next[depth] = 0;
                depth += 1;
            }
        }
        root += 1;
    }
    // Critical paths: the latest end of each hook, relaxed until it settles (the
    // graph is acyclic, so `n` rounds suffice).
    let mut finish = [0u64; MAX_HOOKS];
    let mut pred = [NONE; MAX_HOOKS];
    let mut i = 0;
    while i < n {
        finish[i] = nodes[i].timeout_ms;
        i += 1;
    }
    let mut round = 0;
    while round < n {
        let mut changed = false;
        let mut i = 0;
        while i < n {
            let mut k = 0;
            while k < edge_count(nodes, i) {
                let j = edge(nodes, i, k);
                if j != NONE {
                    let t = finish[j].saturating_add(nodes[i].timeout_ms);
                    if t > finish[i] {
                        finish[i] = t;
                        pred[i] = j;
                        changed = true;
                    }
                }
                k += 1;
            }
            i += 1;
        }
        if !changed {
            break;
        }
        round += 1;
    }
    out.start = longest(nodes, &finish, &pred, true);
    out.end = longest(nodes, &finish, &pred, false);
    out
}

const fn longest(
    nodes: &[Node<'_>],
    finish: &[u64; MAX_HOOKS],
    pred: &[usize; MAX_HOOKS],
    at_start: bool,
) -> Chain {
    let mut last = NONE;
    let mut i = 0;
    while i < nodes.len() {
        if nodes[i].at_start == at_start && (last == NONE || finish[i] > finish[last]) {
            last = i;
        }
        i += 1;
    }
    let mut c = Chain::EMPTY;
    if last == NONE {
        return c;
    }
    c.ms = finish[last];
    // Walk back, then reverse: first to run first.
    let mut at = last;
    while at != NONE {
        c.hooks[c.len] = at;
        c.len += 1;
        at = pred[at];
    }
    let mut a = 0;
    let mut b = c.len - 1;
    while a < b {
        let t = c.hooks[a];
        c.hooks[a] = c.hooks[b];
        c.hooks[b] = t;
        a += 1;
        b -= 1;
    }
    c
}

/// What the whole sequence needs at most, in milliseconds: start hooks, drain
/// delay, the workers' longest stop (step 4, beside the drain), end hooks along
/// their critical paths, and the margin.
pub(crate) const fn needed_ms(a: &Analysis, drain_ms: u64, workers_ms: u64) -> u64 {
    a.start
        .ms
        .saturating_add(drain_ms)
        .saturating_add(workers_ms)
        .saturating_add(a.end.ms)
        .saturating_add(MARGIN_MS)
}

/// The longest stop a worker known before the run needs: its name and stop timeout
/// (`("", 0)` for none, as at compile time, where workers are spawned in setup).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlowestWorker<'a> {
    pub(crate) name: &'a str,
    pub(crate) stop_ms: u64,
}

impl SlowestWorker<'_> {
    pub(crate) const NONE: SlowestWorker<'static> = SlowestWorker {
        name: "",
        stop_ms: 0,
    };
}

/// The smallest whole number of seconds at least `ms`: a grace worth suggesting.
pub(crate) const fn suggest_ms(ms: u64) -> u64 {
    ms.div_ceil(1000).saturating_mul(1000)
}

const fn push_chain<const N: usize>(m: &mut ConstBuf<N>, nodes: &[Node<'_>], c: &Chain) {
    let mut i = 0;
    while i < c.len {
        if i > 0 {
            m.push(" → ");
        }
        let node = &nodes[c.hooks[i]];
        m.push(node.dep.name);
        m.push(" ");
        m.push_duration(node.timeout_ms);
        i += 1;
    }
}

/// The names around a cycle: `close_db → flush_cache → close_db`.
pub(crate) const fn push_cycle<const N: usize>(m: &mut ConstBuf<N>, nodes: &[Node<'_>], c: &Chain) {
    let mut i = 0;
    while i < c.len {
        if i > 0 {
            m.push(" → ");
        }
        m.push(nodes[c.hooks[i]].dep.name);
        i += 1;
    }
}

/// The message of a graph problem, as the compile-time check and `build()` show it.
pub(crate) const fn push_problem<const N: usize>(
    m: &mut ConstBuf<N>,
    nodes: &[Node<'_>],
    a: &Analysis,
) {
    match a.problem {
        Problem::None => {}
        Problem::TooMany => {
            m.push("a service has at most 64 hooks: merge some of them");
        }
        Problem::Unknown { hook, dep } => {
            let missing = nodes[hook].after[dep].name;
            m.push("hook `");
            m.push(nodes[hook].dep.name);
            m.push("` runs after `");
            m.push(missing);
            m.push("`, which is not a hook of this service: add `");
            m.push(missing);
            m.push("` to the service's hooks, or remove it from `after`");
        }
        Problem::SelfDependency { hook } => {
            m.push("hook `");
            m.push(nodes[hook].dep.name);
            m.push("` lists itself in `after`, so it could never start: remove it from its own `after`");
        }
        Problem::CrossPhase { hook, dep } => {
            let (h, d) = (&nodes[hook], &nodes[dep]);
            m.push("hook `");
            m.push(h.dep.name);
            if h.at_start {
                m.push("` runs at the start of the shutdown, but waits for `");
                m.push(d.dep.name);
                m.push(
                    "`, which runs at the end: a start hook cannot wait for an end hook; remove `",
                );
            } else {
                m.push("` runs at the end of the shutdown, after every start hook, so waiting for the start hook `");
                m.push(d.dep.name);
                m.push("` means nothing: remove `");
            }
            m.push(d.dep.name);
            m.push("` from `after`");
        }
        Problem::Cycle { .. } => {
            m.push("hooks wait for each other in a cycle, so none of them could start: ");
            push_cycle(m, nodes, &a.cycle);
            m.push(" (each runs after the next, through `after` or `order`); remove one of these from an `after` list");
        }
    }
}

/// The budget message: the chain that does not fit, with every number.
pub(crate) const fn push_budget<const N: usize>(
    m: &mut ConstBuf<N>,
    nodes: &[Node<'_>],
    a: &Analysis,
    grace_ms: u64,
    drain_ms: u64,
    worker: SlowestWorker<'_>,
) {
    let needed = needed_ms(a, drain_ms, worker.stop_ms);
    m.push("the shutdown does not fit in grace: ");
    if a.start.len > 0 {
        m.push("start hooks ");
        push_chain(m, nodes, &a.start);
        m.push(" + ");
    }
    m.push("drain_delay ");
    m.push_duration(drain_ms);
    if worker.stop_ms > 0 {
        m.push(" + worker ");
        m.push(worker.name);
        m.push(" stop_timeout ");
        m.push_duration(worker.stop_ms);
    }
    if a.end.len > 0 {
        m.push(" + ");
        push_chain(m, nodes, &a.end);
    }
    m.push(" + ");
    m.push_duration(MARGIN_MS);
    m.push(" margin for the report = ");
    m.push_duration(needed);
    m.push(" is more than grace ");
    m.push_duration(grace_ms);
    m.push("; raise grace to ");
    m.push_duration(suggest_ms(needed));
    m.push(", or shorten the drain delay or the timeouts on this chain");
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! d {
        ($name:literal) => {
            Dep {
                id: $name,
                name: $name,
            }
        };
    }

    const fn node<'a>(
        name: &'a str,
        order: Option<u32>,
        ms: u64,
        after: &'a [Dep<'a>],
    ) -> Node<'a> {
        Node {
            dep: Dep { id: name, name },
            order,
            timeout_ms: ms,
            at_start: false,
            after,
        }
    }

    fn names(nodes: &[Node<'_>], c: &Chain) -> Vec<String> {
        c.hooks()
            .iter()
            .map(|&i| nodes[i].dep.name.to_owned())
            .collect()
    }

    #[test]
    fn the_critical_path_is_the_longest_chain() {
        const N: &[Node<'static>] = &[
            node("stop_producer", None, 10_000, &[]),
            node("stop_cache", None, 3_000, &[]),
            node(
                "close_db",
                None,
                25_000,
                &[d!("stop_producer"), d!("stop_cache")],
            ),
            node("flush", None, 2_000, &[d!("close_db")]),
        ];
        const A: Analysis = analyze(N);
        assert_eq!(A.problem, Problem::None);
        assert_eq!(A.end.ms, 37_000);
        assert_eq!(
            names(N, &A.end),
            ["stop_producer", "close_db", "flush"].map(String::from)
        );
        let mut m = ConstBuf::<512>::new();
        push_budget(&mut m, N, &A, 30_000, 10_000, SlowestWorker::NONE);
        assert_eq!(
            m.as_str(),
            "the shutdown does not fit in grace: drain_delay 10s + stop_producer 10s → close_db 25s → flush 2s \
             + 100ms margin for the report = 47s100ms is more than grace 30s; raise grace to 48s, \
             or shorten the drain delay or the timeouts on this chain"
        );
    }

    #[test]
    fn order_is_a_chain_and_mixes_with_after() {
        let nodes = [
            node("b", Some(2), 1_000, &[]),
            node("a", Some(1), 1_000, &[]),
            node("free", None, 5_000, &[]),
            node("last", None, 1_000, &[d!("b")]),
        ];
        let a = analyze(&nodes);
        assert_eq!(a.problem, Problem::None);
        assert_eq!(a.end.ms, 5_000);
        let nodes = [
            node("a", Some(1), 1_000, &[]),
            node("b", Some(2), 1_000, &[]),
            node("c", Some(3), 1_000, &[]),
        ];
        assert_eq!(analyze(&nodes).end.ms, 3_000);
    }

    #[test]
    fn cycles_are_spelled_out() {
        let nodes = [
            node("close_db", None, 1_000, &[d!("flush_cache")]),
            node("flush_cache", None, 1_000, &[d!("close_db")]),
        ];
        let a = analyze(&nodes);
        assert_eq!(a.problem, Problem::Cycle { hook: 0 });
        let mut m = ConstBuf::<512>::new();
        push_cycle(&mut m, &nodes, &a.cycle);
        assert_eq!(m.as_str(), "close_db → flush_cache → close_db");
        // Through an order edge: `a` (order 1) after `b` (order 2).
        let nodes = [
            node("a", Some(1), 1_000, &[d!("b")]),
            node("b", Some(2), 1_000, &[]),
        ];
        assert!(matches!(analyze(&nodes).problem, Problem::Cycle { .. }));
    }

    #[test]
    fn unknown_self_and_cross_phase_are_refused() {
        let nodes = [node("a", None, 1, &[d!("nope")])];
        assert_eq!(
            analyze(&nodes).problem,
            Problem::Unknown { hook: 0, dep: 0 }
        );
        let nodes = [node("a", None, 1, &[d!("a")])];
        assert_eq!(analyze(&nodes).problem, Problem::SelfDependency { hook: 0 });
        let mut start = node("leave", None, 1, &[]);
        start.at_start = true;
        let nodes = [start, node("a", None, 1, &[d!("leave")])];
        assert_eq!(
            analyze(&nodes).problem,
            Problem::CrossPhase { hook: 1, dep: 0 }
        );
    }
}
