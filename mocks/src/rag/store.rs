//! The in-memory collection: documents, their chunks and vectors, capacity, and search.
//!
//! Documents are chunked and embedded before the write lock is taken, then swapped in together, so
//! a query (under the read lock) sees a document entirely or not at all, and a batch that would
//! exceed capacity changes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::Serialize;
use serde_json::{Map, Value};

use super::embed::{chunks, embed, similarity};

/// A document as submitted.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// Its id (re-indexing an id replaces the document).
    pub id: String,
    /// Full text.
    pub text: String,
    /// Free-form metadata, filterable by equality.
    pub metadata: Map<String, Value>,
}

/// A stored chunk.
#[derive(Debug)]
struct Chunk {
    text: String,
    vector: Vec<f32>,
    /// Its distinct terms' hashes, sorted: the exact word overlap a query's ranking starts from.
    terms: Vec<u64>,
}

/// A stored document.
#[derive(Debug)]
pub(super) struct Document {
    id: String,
    metadata: Map<String, Value>,
    chunks: Vec<Chunk>,
    bytes: usize,
}

/// Limits and chunking of a collection.
#[derive(Debug, Clone)]
pub struct StoreLimits {
    /// Vector dimensions.
    pub dimensions: usize,
    /// Words per chunk.
    pub chunk_words: usize,
    /// Words shared by consecutive chunks.
    pub chunk_overlap: usize,
    /// Most documents held.
    pub max_documents: Option<usize>,
    /// Most text bytes held.
    pub max_bytes: Option<usize>,
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write would exceed the capacity; nothing was written.
    #[error(
        "capacity exceeded: the collection would hold {documents} documents and {bytes} bytes, over its limit of {limit}. Delete documents or raise the limit."
    )]
    Capacity {
        /// Documents after the write.
        documents: usize,
        /// Bytes after the write.
        bytes: usize,
        /// The limit that was hit, described.
        limit: String,
    },
}

/// What an index call did.
#[derive(Debug, Serialize)]
pub struct IndexOutcome {
    /// Documents written.
    pub indexed: usize,
    /// Of which replaced an existing id.
    pub replaced: usize,
    /// Chunks written.
    pub chunks: usize,
    /// Documents in the collection now.
    pub documents: usize,
}

/// One search hit.
#[derive(Debug, Serialize)]
pub struct Hit {
    /// Document id.
    pub id: String,
    /// Chunk index within the document.
    pub chunk: usize,
    /// Relevance in 0..=1: the share of the query's words the chunk holds, refined by the
    /// embeddings' cosine similarity.
    pub score: f32,
    /// Chunk text.
    pub text: String,
    /// Document metadata.
    pub metadata: Map<String, Value>,
}

/// Collection statistics.
#[derive(Debug, Serialize)]
pub struct CollectionStats {
    /// Always `default`.
    pub name: &'static str,
    /// Documents held.
    pub documents: usize,
    /// Chunks held.
    pub chunks: usize,
    /// Vector dimensions.
    pub dimensions: usize,
    /// Text bytes held.
    pub bytes: usize,
    /// Capacity in documents, if any.
    pub max_documents: Option<usize>,
    /// Capacity in bytes, if any.
    pub max_bytes: Option<usize>,
}

#[derive(Default)]
struct Collection {
    documents: BTreeMap<String, Arc<Document>>,
    bytes: usize,
    chunks: usize,
}

/// The sorted, distinct hashes of a text's terms.
fn term_hashes(text: &str) -> Vec<u64> {
    let mut hashes: Vec<u64> = super::embed::terms(text).map(|t| common::fnv1a(t.as_bytes())).collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// The collection and its limits.
pub struct Store {
    limits: StoreLimits,
    collection: RwLock<Collection>,
}

impl Store {
    /// An empty store.
    pub fn new(limits: StoreLimits) -> Self {
        Store { limits, collection: RwLock::new(Collection::default()) }
    }

    fn prepare(&self, new: NewDocument) -> Document {
        let chunks = chunks(&new.text, self.limits.chunk_words, self.limits.chunk_overlap)
            .into_iter()
            .map(|text| Chunk { vector: embed(&text, self.limits.dimensions), terms: term_hashes(&text), text })
            .collect();
        Document { bytes: new.text.len(), id: new.id, metadata: new.metadata, chunks }
    }

    /// Indexes a batch: all of it, or (over capacity) none of it.
    pub fn upsert(&self, batch: Vec<NewDocument>) -> Result<IndexOutcome, StoreError> {
        // The same id twice in one batch is refused before it gets here (see `documents`); should
        // a caller send one anyway, the later one wins.
        let mut batch = batch;
        let mut seen = std::collections::HashSet::new();
        batch.reverse();
        batch.retain(|d| seen.insert(d.id.clone()));
        batch.reverse();
        let prepared: Vec<Document> = batch.into_iter().map(|d| self.prepare(d)).collect();
        let mut collection = self.collection.write();
        let mut documents = collection.documents.len();
        let mut bytes = collection.bytes;
        let mut replaced = 0;
        for doc in &prepared {
            match collection.documents.get(&doc.id) {
                Some(old) => {
                    replaced += 1;
                    bytes -= old.bytes;
                }
                None => documents += 1,
            }
            bytes += doc.bytes;
        }
        let over_documents = self.limits.max_documents.filter(|max| documents > *max).map(|m| format!("{m} documents"));
        let over_bytes = self.limits.max_bytes.filter(|max| bytes > *max).map(|m| format!("{m} bytes"));
        if let Some(limit) = over_documents.or(over_bytes) {
            return Err(StoreError::Capacity { documents, bytes, limit });
        }
        let indexed = prepared.len();
        let mut chunk_count = 0;
        for doc in prepared {
            chunk_count += doc.chunks.len();
            collection.chunks += doc.chunks.len();
            collection.bytes += doc.bytes;
            if let Some(old) = collection.documents.insert(doc.id.clone(), Arc::new(doc)) {
                collection.chunks -= old.chunks.len();
                collection.bytes -= old.bytes;
            }
        }
        Ok(IndexOutcome { indexed, replaced, chunks: chunk_count, documents: collection.documents.len() })
    }

    /// Removes a document; false when there was none.
    pub fn delete(&self, id: &str) -> bool {
        let mut collection = self.collection.write();
        match collection.documents.remove(id) {
            Some(old) => {
                collection.chunks -= old.chunks.len();
                collection.bytes -= old.bytes;
                true
            }
            None => false,
        }
    }

    /// The `top_k` chunks nearest to `query` among documents whose metadata has every
    /// key/value of `filter`.
    pub fn query(&self, query: &str, top_k: usize, filter: &Map<String, Value>) -> Vec<Hit> {
        let vector = embed(query, self.limits.dimensions);
        let vector = vector.as_slice();
        let wanted = term_hashes(query);
        // Shared words first, the vector's similarity (0..1) within them: a chunk sharing a word
        // always ranks above one sharing none, whatever hashed buckets collide. In 0..=1.
        let score = |c: &Chunk| {
            let shared = wanted.iter().filter(|t| c.terms.binary_search(t).is_ok()).count() as f32;
            (shared + 0.99 * similarity(vector, &c.vector)) / (wanted.len() as f32 + 1.0)
        };
        let collection = self.collection.read();
        let mut scored: Vec<(f32, &Arc<Document>, usize)> = collection
            .documents
            .values()
            .filter(|doc| filter.iter().all(|(k, v)| doc.metadata.get(k) == Some(v)))
            .flat_map(|doc| doc.chunks.iter().enumerate().map(move |(i, c)| (score(c), doc, i)))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)).then(a.2.cmp(&b.2)));
        scored
            .into_iter()
            .take(top_k)
            .map(|(score, doc, i)| Hit {
                id: doc.id.clone(),
                chunk: i,
                score,
                text: doc.chunks[i].text.clone(),
                metadata: doc.metadata.clone(),
            })
            .collect()
    }

    /// Counts and limits.
    pub fn stats(&self) -> CollectionStats {
        let collection = self.collection.read();
        CollectionStats {
            name: "default",
            documents: collection.documents.len(),
            chunks: collection.chunks,
            dimensions: self.limits.dimensions,
            bytes: collection.bytes,
            max_documents: self.limits.max_documents,
            max_bytes: self.limits.max_bytes,
        }
    }

    /// Empties the collection.
    pub fn clear(&self) {
        *self.collection.write() = Collection::default();
    }
}
