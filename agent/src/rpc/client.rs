//! The RPC client the `serf` commands use: connect, handshake (and auth),
//! requests, response headers and bodies.

use std::io::{BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rmpv::Value;
use serde::Serialize;

use super::frame::{read_object, Limits};
use super::records::{bytes_field, field, str_field, u64_field, Auth, Handshake, RequestHeader};

/// How long connecting to an agent may take (Serf's timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to an agent's RPC port and performs the handshake (and auth).
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    seq: u64,
}

impl Client {
    /// Connects, with Serf's 10 s timeout; every failure is worded
    /// `Error connecting to Serf agent: ...`, as Serf's commands word it.
    pub fn connect(addr: &str, auth: &str) -> Result<Client, String> {
        Client::open(addr, auth).map_err(|e| format!("Error connecting to Serf agent: {e}"))
    }

    fn open(addr: &str, auth: &str) -> Result<Client, String> {
        let sock: SocketAddr = addr
            .parse()
            .map_err(|_| format!("invalid RPC address {addr:?}: use IP:port"))?;
        let stream = TcpStream::connect_timeout(&sock, CONNECT_TIMEOUT)
            .map_err(|e| format!("dial tcp {addr}: {e}"))?;
        let mut c = Client {
            reader: BufReader::new(stream.try_clone().map_err(|e| e.to_string())?),
            writer: BufWriter::new(stream),
            seq: 0,
        };
        c.call("handshake", Some(&Handshake { version: 1 }))?;
        if !auth.is_empty() {
            c.call("auth", Some(&Auth { auth_key: auth }))?;
        }
        Ok(c)
    }

    /// Sends a request; returns its sequence number.
    pub fn send<T: Serialize>(&mut self, command: &str, body: Option<&T>) -> Result<u64, String> {
        self.seq += 1;
        rmp_serde::encode::write_named(
            &mut self.writer,
            &RequestHeader {
                command,
                seq: self.seq,
            },
        )
        .map_err(|e| e.to_string())?;
        if let Some(b) = body {
            rmp_serde::encode::write_named(&mut self.writer, b).map_err(|e| e.to_string())?;
        }
        self.writer.flush().map_err(|e| e.to_string())?;
        Ok(self.seq)
    }

    /// Reads the next response header; `Err` carries the agent's error.
    pub fn header(&mut self) -> Result<(), String> {
        let h = read_object(&mut self.reader, Limits::RESPONSE)?;
        let e = str_field(&h, "Error");
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// Reads a body object.
    pub fn value(&mut self) -> Result<Value, String> {
        read_object(&mut self.reader, Limits::RESPONSE)
    }

    /// Request + header.
    pub fn call<T: Serialize>(&mut self, command: &str, body: Option<&T>) -> Result<(), String> {
        self.send(command, body)?;
        self.header()
    }
}

/// Reads a string field of a response body.
pub fn get_str(v: &Value, key: &str) -> String {
    str_field(v, key)
}

/// Reads a byte field of a response body.
pub fn get_bytes(v: &Value, key: &str) -> Vec<u8> {
    bytes_field(v, key)
}

/// Reads an integer field of a response body.
pub fn get_u64(v: &Value, key: &str) -> u64 {
    u64_field(v, key)
}

/// Reads a field.
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    field(v, key)
}
