//! `query` (sent, with acks and responses streamed back) and `respond`.

use std::sync::mpsc;
use std::time::Duration;

use serf_runtime_std::member::{Command, QueryEvent, QuerySpec};

use super::connection::{ask, write_obj, Connection};
use super::records::*;

impl Connection {
    /// Sends a query; streams its acks, responses and the final done.
    pub(super) fn query(&mut self, seq: u64) -> Result<(), String> {
        let b = self.body()?;
        let timeout = b.signed("Timeout")?;
        let spec = QuerySpec {
            name: b.string("Name")?,
            payload: b.bytes("Payload")?,
            nodes: b.strings("FilterNodes")?,
            tags: b.string_map("FilterTags")?,
            ack: b.boolean("RequestAck")?,
            relay_factor: b.unsigned("RelayFactor", u8::MAX.into())? as u8,
            timeout: (timeout > 0).then(|| Duration::from_nanos(timeout as u64)),
        };
        let (etx, erx) = mpsc::channel();
        match ask(&self.commands, |tx| Command::Query(spec, etx, tx))? {
            Err(e) => self.reply(seq, &e),
            Ok(_) => {
                self.reply(seq, "")?;
                while let Ok(e) = erx.recv_timeout(Duration::from_secs(600)) {
                    let h = ResponseHeader { seq, error: "" };
                    match e {
                        QueryEvent::Ack(from) => write_obj(
                            &self.writer,
                            &h,
                            Some(&QueryRecord {
                                r#type: "ack",
                                from: &from,
                                payload: &[],
                            }),
                        )?,
                        QueryEvent::Response(from, p) => write_obj(
                            &self.writer,
                            &h,
                            Some(&QueryRecord {
                                r#type: "response",
                                from: &from,
                                payload: &p,
                            }),
                        )?,
                        QueryEvent::Done => {
                            write_obj(
                                &self.writer,
                                &h,
                                Some(&QueryRecord {
                                    r#type: "done",
                                    from: "",
                                    payload: &[],
                                }),
                            )?;
                            break;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Answers a query this agent received.
    pub(super) fn respond(&mut self, seq: u64) -> Result<(), String> {
        let b = self.body()?;
        let (id, payload) = (b.unsigned("ID", u64::MAX)?, b.bytes("Payload")?);
        // Our query ids are 32-bit: a larger one names no pending query.
        let Ok(id) = u32::try_from(id) else {
            return self.reply(seq, "No pending queries matching ID");
        };
        match ask(&self.commands, |tx| Command::Respond(id, payload, tx))? {
            Ok(()) => self.reply(seq, ""),
            Err(e) => self.reply(seq, &e),
        }
    }
}
