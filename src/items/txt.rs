//! Plain text: one item per line.
//!
//! The simplest way to bring a list: no ids to invent, so the id is the line
//! number, which stays meaningful to the user ("line 17 scores highest")
//! even when blank lines are skipped.

use super::collect::{parse_lines, Collector, Ctx, LineOutcome};
use super::error::ItemsError;
use super::{Parts, Row};

pub(crate) fn parse<R: Row>(body: &[u8], ctx: &mut Ctx) -> Result<Collector<R>, ItemsError> {
    parse_lines(body, ctx, |line, info| {
        if line.trim().is_empty() {
            return LineOutcome::Blank;
        }
        LineOutcome::Row(R::from_parts(Parts {
            id: info.line.to_string(),
            title: None,
            text: line.to_string(),
            gold: Vec::new(),
        }))
    })
}
