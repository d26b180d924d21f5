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
        let timeout = u64_field(&b, "Timeout");
        let spec = QuerySpec {
            name: str_field(&b, "Name"),
            payload: bytes_field(&b, "Payload"),
            nodes: string_list(&b, "FilterNodes"),
            tags: string_map(&b, "FilterTags"),
            ack: bool_field(&b, "RequestAck"),
            relay_factor: u64_field(&b, "RelayFactor").min(255) as u8,
            timeout: (timeout > 0).then(|| Duration::from_nanos(timeout)),
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
        let (id, payload) = (u64_field(&b, "ID") as u32, bytes_field(&b, "Payload"));
        match ask(&self.commands, |tx| Command::Respond(id, payload, tx))? {
            Ok(()) => self.reply(seq, ""),
            Err(e) => self.reply(seq, &e),
        }
    }
}
