//! MessageTransit round trips nested serde types in both directions, over the
//! in-memory pipe and TCP loopback, opened symmetrically by one name.
#![cfg(feature = "json")]

mod common;

use common::{bounded, pair, Transport, TIMEOUT};
use netconduit::transit::{MessageReceiver, MessageSender, MessageTransit};
use netconduit::{ChannelOptions, MultiplexerOptions};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::thread;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Shape {
    Point,
    Circle { radius: f64 },
    Polygon(Vec<(i32, i32)>),
    Group(Vec<Shape>),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Layer {
    name: String,
    visible: bool,
    opacity: Option<f32>,
    shapes: Vec<Shape>,
    tags: BTreeMap<String, Vec<String>>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Document {
    id: u64,
    offset: i64,
    title: String,
    layers: Vec<Layer>,
    metadata: HashMap<String, Option<Box<Document>>>,
    blob: Vec<u8>,
}

fn sample(n: u64) -> Document {
    let child = Document {
        id: n + 1,
        offset: i64::MIN,
        title: "child \u{1F600} \"quoted\" \\ back\nslash".into(),
        layers: vec![],
        metadata: HashMap::new(),
        blob: vec![0, 255, 128],
    };
    let mut tags = BTreeMap::new();
    tags.insert("colour".to_string(), vec!["red".to_string(), "grün".to_string()]);
    tags.insert(String::new(), vec![]);
    Document {
        id: u64::MAX - n,
        offset: -(n as i64),
        title: format!("document {n}"),
        layers: vec![
            Layer {
                name: "base".into(),
                visible: true,
                opacity: Some(0.5),
                shapes: vec![
                    Shape::Point,
                    Shape::Circle { radius: 1e-300 },
                    Shape::Polygon(vec![(0, 0), (i32::MAX, i32::MIN)]),
                    Shape::Group(vec![Shape::Group(vec![Shape::Point]), Shape::Circle { radius: 2.5 }]),
                ],
                tags,
            },
            Layer { name: "empty".into(), visible: false, opacity: None, shapes: vec![], tags: BTreeMap::new() },
        ],
        metadata: HashMap::from([("parent".to_string(), None), ("child".to_string(), Some(Box::new(child)))]),
        blob: (0..=255).collect(),
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Reply {
    Ack { id: u64, layers: usize },
    Echo(Box<Document>),
}

/// One way: 20 documents arrive equal and in order, then the iterator ends at the close.
fn one_way(transport: Transport) {
    bounded(TIMEOUT, move || {
        let (client, server) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
        let server_side = server.clone();
        let service = thread::spawn(move || {
            // The service sends Reply and receives Document: the mirror of the client.
            let mut transit: MessageTransit<Reply, Document> = server_side.open_message_transit("docs").unwrap();
            let mut seen = 0;
            for document in transit.iter() {
                assert_eq!(document.unwrap(), sample(seen));
                seen += 1;
            }
            seen
        });
        let mut transit: MessageTransit<Document, Reply> = client.open_message_transit("docs").unwrap();
        for n in 0..20 {
            transit.send(&sample(n)).unwrap();
        }
        transit.close().unwrap();
        assert_eq!(service.join().unwrap(), 20);
    });
}

/// Request and reply: every document comes back inside an enum, equal to what was sent.
fn echo(transport: Transport) {
    bounded(TIMEOUT, move || {
        let (client, server) = pair(transport, MultiplexerOptions::default(), MultiplexerOptions::default());
        let server_side = server.clone();
        let service = thread::spawn(move || {
            let (mut replies, mut requests) =
                server_side.open_message_transit::<Reply, Document>("echo").unwrap().split();
            for document in requests.iter() {
                let document = document.unwrap();
                let reply = if document.id % 2 == 0 {
                    Reply::Ack { id: document.id, layers: document.layers.len() }
                } else {
                    Reply::Echo(Box::new(document))
                };
                replies.send(&reply).unwrap();
            }
            replies.close().unwrap();
        });
        let mut transit = MessageTransit::<Document, Reply>::open(&client, "echo").unwrap();
        for n in 0..50 {
            let document = sample(n);
            transit.send(&document).unwrap();
            let expected = if document.id % 2 == 0 {
                Reply::Ack { id: document.id, layers: 2 }
            } else {
                Reply::Echo(Box::new(document))
            };
            assert_eq!(transit.recv().unwrap(), expected);
        }
        let (sender, mut receiver) = transit.split();
        sender.close().unwrap();
        assert!(receiver.iter().next().is_none(), "the service closes after our close");
        service.join().unwrap();
    });
}

#[test]
fn nested_types_round_trip_over_memory() {
    one_way(Transport::Memory);
    echo(Transport::Memory);
}

#[test]
fn nested_types_round_trip_over_tcp() {
    one_way(Transport::Tcp);
    echo(Transport::Tcp);
}

/// Unsized send types work: a `MessageSender<str>` talks to a `MessageReceiver<String>`.
#[test]
fn unsized_send_type_and_halves_over_single_channels() {
    bounded(TIMEOUT, || {
        let (a, b) = pair(Transport::Memory, MultiplexerOptions::default(), MultiplexerOptions::default());
        let mut tx: MessageSender<str> = MessageSender::new(a.open_channel(ChannelOptions::new("words")).unwrap());
        let mut rx: MessageReceiver<String> = MessageReceiver::new(b.accept_channel("words").unwrap());
        for word in ["alpha", "", "γάμμα", "line\nbreak"] {
            tx.send(word).unwrap();
        }
        tx.close().unwrap();
        let words: Vec<String> = rx.iter().map(Result::unwrap).collect();
        assert_eq!(words, ["alpha", "", "γάμμα", "line\nbreak"]);
    });
}
