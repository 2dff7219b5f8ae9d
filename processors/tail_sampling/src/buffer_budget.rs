//! The memory budget's side of the table: keeping to `max_memory_mib` (forgetting decided
//! traces, spilling or dropping the oldest pending ones) and reading spilled traces back for
//! their decision. The rules are in [`super`]'s module docs; this file holds them apart from
//! the table's bookkeeping so each stays readable.

use super::{BudgetOutcome, DecideOutcome, Pending, State, TraceBuffer, TraceId, ENTRY_BYTES};
use crate::held::HeldTrace;
use crate::spill_chunk;

/// The most one spill write takes beyond what brings the held bytes back under the budget.
const SPILL_BATCH_BYTES: usize = 2 << 20;

impl TraceBuffer {
    /// Spills (or, without a spill, drops) the oldest pending traces' in-memory spans until
    /// the budget is kept; then forgets decided traces if the table alone is too large.
    pub fn keep_to_budget(&mut self) -> BudgetOutcome {
        let mut out = BudgetOutcome::default();
        let Some(budget) = self.budget else { return out };
        let held = self.held_bytes();
        if held <= budget {
            return out;
        }
        // Decided traces (kept so that late spans follow the decision) may take an eighth of
        // the budget; past that the oldest are forgotten before any pending span is spilled.
        let max_decided = budget / 8 / ENTRY_BYTES;
        if self.first_pending > max_decided {
            let n = self.first_pending - max_decided;
            for (old, _) in self.order.drain(..n) {
                self.traces.remove(&old);
            }
            self.first_pending -= n;
            self.spill_cursor = self.spill_cursor.saturating_sub(n);
            // A map keeps its room when entries go: give it back, or the room counts against
            // the budget for ever (and the pending spans would be spilled to make up for it).
            if self.traces.len() * 2 < self.traces.capacity() {
                self.traces.shrink_to(self.traces.len() + self.traces.len() / 4);
                self.order.shrink_to(self.order.len() + self.order.len() / 4);
            }
        }
        let held = self.held_bytes();
        if held <= budget {
            return out;
        }
        // Down to a little under the budget, so that writes come in batches; at most 2 MiB
        // under it, since a batch is encoded in one buffer before it is written.
        let excess = held - (budget - (budget / 8).min(SPILL_BATCH_BYTES));
        let mut chosen: Vec<TraceId> = Vec::new();
        let mut freed = 0usize;
        // From the cursor to the newest; then, if spilled traces got spans since (they are
        // before the cursor), once more from the oldest pending.
        let start = self.spill_cursor.max(self.first_pending);
        let mut i = start;
        let mut wrapped = false;
        while freed < excess {
            if i >= self.order.len() {
                if wrapped || self.late_memory_traces == 0 {
                    break;
                }
                wrapped = true;
                i = self.first_pending;
            }
            if wrapped && i >= start {
                break;
            }
            let id = self.order[i].0;
            i += 1;
            if let Some(State::Pending(p)) = self.traces.get(&id) {
                if !p.memory.is_empty() {
                    freed += p.memory.capacity();
                    chosen.push(id);
                }
            }
        }
        self.spill_cursor = if wrapped { self.order.len() } else { i };
        if !chosen.is_empty() {
            if self.spill.is_some() {
                self.spill_out(&chosen, &mut out);
            } else {
                self.drop_pending(&chosen, &mut out);
            }
        }
        if self.held_bytes() > budget && self.first_pending > 0 {
            // The table itself is too large: forget every decided trace (late spans of those
            // then start new traces, unless a decision cache remembers them) and give the
            // room back, which a map keeps otherwise.
            for (old, _) in self.order.drain(..self.first_pending) {
                self.traces.remove(&old);
            }
            self.spill_cursor = self.spill_cursor.saturating_sub(self.first_pending);
            self.first_pending = 0;
            self.traces.shrink_to(0);
            self.order.shrink_to_fit();
        }
        out
    }

    fn spill_out(&mut self, chosen: &[TraceId], out: &mut BudgetOutcome) {
        let size: usize = chosen
            .iter()
            .map(|id| match self.traces.get(id) {
                Some(State::Pending(p)) => p.memory.len() + 64,
                _ => 0,
            })
            .sum();
        let (traces, resources, scopes) = (&self.traces, &self.resources, &self.scopes);
        // Each chunk is encoded straight into the write's buffer (a trace not pending, which
        // cannot happen, would get an empty chunk: nothing).
        let written = self.spill.as_mut().map(|s| {
            s.write_with(chosen.len(), size, |i, buf| {
                if let Some(State::Pending(p)) = chosen.get(i).and_then(|id| traces.get(id)) {
                    spill_chunk::encode_into(buf, p.last_spill(), &p.memory, resources, scopes);
                }
            })
        });
        let written = match written {
            Some(Ok(refs)) => refs,
            Some(Err(e)) => {
                out.spill_error = Some(e);
                self.drop_pending(chosen, out);
                return;
            }
            None => return,
        };
        for (id, r) in chosen.iter().zip(written) {
            let Some(State::Pending(p)) = self.traces.get_mut(id) else { continue };
            let memory = std::mem::take(&mut p.memory);
            let was_spilled = p.last_spill().is_some();
            p.spilled = r;
            p.spilled_spans += memory.span_count() as u32;
            self.memory_traces = self.memory_traces.saturating_sub(1);
            self.memory_bytes = self.memory_bytes.saturating_sub(memory.capacity());
            if was_spilled {
                self.late_memory_traces = self.late_memory_traces.saturating_sub(1);
            } else {
                self.spilled_traces += 1;
            }
            memory.release_heads(&mut self.resources, &mut self.scopes);
            self.totals.spilled_traces += 1;
            self.totals.spilled_bytes += u64::from(r.len);
        }
    }

    /// Drops pending traces undecided; their late spans are dropped too.
    fn drop_pending(&mut self, ids: &[TraceId], out: &mut BudgetOutcome) {
        for id in ids {
            let Some(state) = self.traces.get_mut(id) else { continue };
            if let State::Pending(p) = std::mem::replace(state, State::NotSampled) {
                out.dropped_traces += 1;
                out.dropped_spans += self.discard(p);
            }
        }
    }

    /// A pending trace's spans, whole: spilled chunks read back (oldest first), then those in
    /// memory. Chunks that cannot be read are counted as lost.
    pub(super) fn assemble(&mut self, p: Pending, out: &mut DecideOutcome) -> HeldTrace {
        self.forget_memory(&p);
        let Some(last) = p.last_spill() else { return p.memory };
        self.spilled_traces = self.spilled_traces.saturating_sub(1);
        let mut trace = HeldTrace::default();
        if let Some(spill) = &mut self.spill {
            let mut chunks = Vec::new();
            let mut next = Some(last);
            while let Some(r) = next {
                next = None;
                match spill.read(r) {
                    Ok(chunk) => {
                        match spill_chunk::prev(&chunk) {
                            Ok(prev) => next = prev,
                            Err(e) => out.read_error = Some(e),
                        }
                        chunks.push(chunk);
                    }
                    Err(e) => out.read_error = Some(e),
                }
                spill.free(r);
                self.totals.read_back_bytes += u64::from(r.len);
            }
            self.totals.read_back_traces += 1;
            for chunk in chunks.iter().rev() {
                if let Err(e) = spill_chunk::decode_into(chunk, &mut self.resources, &mut self.scopes, &mut trace) {
                    out.read_error = Some(e);
                }
            }
        }
        out.lost_spans += (p.spilled_spans as usize).saturating_sub(trace.span_count());
        trace.append(p.memory);
        trace
    }
}
