"""All Cypher lives here. These statements run unchanged on Neo4j 5 and LadybugDB (shared dialect).

Relationship MERGEs look up both ends with two MATCH clauses, not one comma pattern: on Neo4j the comma
form is a cartesian product to its planner (two index seeks either way, but a warning on every batch)."""

from __future__ import annotations

from kgflow.schemas import load_json

MERGE = {
    "Document": "UNWIND $rows AS row MERGE (d:Document {id: row.id}) "
    "SET d.uri = row.uri, d.title = row.title, d.sha256 = row.sha256, d.department = row.department, "
    "d.acl = row.acl, d.ingested_at = row.ingested_at, d.tags = row.tags",
    "Chunk": "UNWIND $rows AS row MERGE (c:Chunk {id: row.id}) "
    "SET c.doc_id = row.doc_id, c.text = row.text, c.ord = row.ord, c.page = row.page, c.section = row.section",
    "Entity": "UNWIND $rows AS row MERGE (e:Entity {id: row.id}) "
    "ON CREATE SET e.name = row.name, e.label = row.label, e.aliases = row.aliases",
    "HAS_CHUNK": "UNWIND $rows AS row MATCH (d:Document {id: row.src}) MATCH (c:Chunk {id: row.dst}) "
    "MERGE (d)-[:HAS_CHUNK]->(c)",
    "NEXT": "UNWIND $rows AS row MATCH (a:Chunk {id: row.src}) MATCH (b:Chunk {id: row.dst}) MERGE (a)-[:NEXT]->(b)",
    "MENTIONS": "UNWIND $rows AS row MATCH (c:Chunk {id: row.src}) MATCH (e:Entity {id: row.dst}) "
    "MERGE (c)-[m:MENTIONS]->(e) SET m.count = row.count",
    "RELATED": "UNWIND $rows AS row MATCH (a:Entity {id: row.src}) MATCH (b:Entity {id: row.dst}) "
    "MERGE (a)-[r:RELATED {id: row.id}]->(b) "
    "SET r.type = row.type, r.weight = row.weight, r.evidence_chunk = row.evidence_chunk",
}

# Which of the given keys exist already (bulk loading inserts only the rest). Every read by keys starts from
# UNWIND and an index seek (or an equality the planner joins on): `x IN $list` compares every row of the
# table with every key, which at 1M chunks made a nightly run's lookups cost minutes.
EXISTING = {
    "Document": "UNWIND $ids AS k MATCH (n:Document {id: k}) RETURN n.id AS k",
    "Chunk": "UNWIND $ids AS k MATCH (n:Chunk {id: k}) RETURN n.id AS k",
    "Entity": "UNWIND $ids AS k MATCH (n:Entity {id: k}) RETURN n.id AS k",
    "HAS_CHUNK": "UNWIND $ids AS k MATCH (:Document)-[:HAS_CHUNK]->(c:Chunk {id: k}) RETURN c.id AS k",
    "NEXT": "UNWIND $ids AS k MATCH (a:Chunk {id: k})-[:NEXT]->(:Chunk) RETURN a.id AS k",
    "MENTIONS": "UNWIND $ids AS k MATCH (c:Chunk {id: k})-[:MENTIONS]->(e:Entity) RETURN c.id + '|' + e.id AS k",
    "RELATED": "UNWIND $ids AS k MATCH (:Entity)-[r:RELATED]->(:Entity) WHERE r.id = k RETURN r.id AS k",
}

RETIRE = [
    # evidence first (it names chunks), then chunks, documents, and entities no chunk mentions any more. Each
    # starts from the documents' keys (an index seek) and matches evidence by equality, one chunk at a time:
    # `x IN $list` compared every row of the table with every key (LadybugDB: 80 s at 1M chunks for 1% of
    # the documents; now ~2 s), and on Neo4j equality uses the related_evidence index
    "UNWIND $ids AS id MATCH (:Document {id: id})-[:HAS_CHUNK]->(c:Chunk) WITH c.id AS cid "
    "MATCH (:Entity)-[r:RELATED]->(:Entity) WHERE r.evidence_chunk = cid DELETE r",
    "UNWIND $ids AS id MATCH (:Document {id: id})-[:HAS_CHUNK]->(c:Chunk) DETACH DELETE c",
    "UNWIND $ids AS id MATCH (d:Document {id: id}) DETACH DELETE d",
    "MATCH (e:Entity) WHERE NOT EXISTS { MATCH (:Chunk)-[:MENTIONS]->(e) } DETACH DELETE e",
]

COUNTS = {
    "documents": "MATCH (n:Document) RETURN count(n) AS n",
    "chunks": "MATCH (n:Chunk) RETURN count(n) AS n",
    "entities": "MATCH (n:Entity) RETURN count(n) AS n",
    "mentions": "MATCH (:Chunk)-[r:MENTIONS]->(:Entity) RETURN count(r) AS n",
    "relations": "MATCH (:Entity)-[r:RELATED]->(:Entity) RETURN count(r) AS n",
    "next": "MATCH (:Chunk)-[r:NEXT]->(:Chunk) RETURN count(r) AS n",
}

ALL_ENTITIES = "MATCH (e:Entity) RETURN e.id AS id, e.name AS name, e.label AS label, e.aliases AS aliases"
RELATED_EDGES = (
    "MATCH (a:Entity)-[r:RELATED]->(b:Entity) "
    "RETURN a.name AS src, b.name AS dst, r.type AS type, r.weight AS weight, r.evidence_chunk AS chunk"
)
CHUNK_TEXTS = "MATCH (c:Chunk) RETURN c.id AS id, c.text AS text"
DOCUMENTS = ("MATCH (d:Document) RETURN d.id AS id, d.uri AS uri, d.title AS title, d.department AS department, "
             "d.acl AS acl")

# Snapshot reads for query-time retrieval (the gateway holds them in memory between publishes).
SNAPSHOT = {
    "entities": ALL_ENTITIES,
    "related": "MATCH (a:Entity)-[r:RELATED]->(b:Entity) "
    "RETURN a.id AS src, b.id AS dst, r.type AS type, r.weight AS weight, r.evidence_chunk AS chunk",
    "mentions": "MATCH (c:Chunk)-[m:MENTIONS]->(e:Entity) RETURN c.id AS chunk, e.id AS entity, m.count AS count",
    "chunks": "MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk) RETURN c.id AS id, c.text AS text, c.ord AS ord, "
    "c.section AS section, d.id AS doc_id, d.title AS title, d.uri AS uri, d.acl AS acl",
}

# The same rows for given keys: what a nightly increment's snapshot delta reads (documents' chunks, chunks'
# mentions, edges by evidence chunk, entities by id)
SNAPSHOT_FOR = {
    "entities": "UNWIND $ids AS k MATCH (e:Entity {id: k}) "
    "RETURN e.id AS id, e.name AS name, e.label AS label, e.aliases AS aliases",
    "related": "UNWIND $ids AS k MATCH (a:Entity)-[r:RELATED]->(b:Entity) WHERE r.evidence_chunk = k "
    "RETURN a.id AS src, b.id AS dst, r.type AS type, r.weight AS weight, r.evidence_chunk AS chunk",
    "mentions": "UNWIND $ids AS k MATCH (c:Chunk {id: k})-[m:MENTIONS]->(e:Entity) "
    "RETURN c.id AS chunk, e.id AS entity, m.count AS count",
    "chunks": "UNWIND $ids AS k MATCH (d:Document {id: k})-[:HAS_CHUNK]->(c:Chunk) RETURN c.id AS id, "
    "c.text AS text, c.ord AS ord, c.section AS section, d.id AS doc_id, d.title AS title, d.uri AS uri, "
    "d.acl AS acl",
}


def export_queries() -> dict[str, tuple[str, list[str]]]:
    """Per node label and relationship type (schemas/graph.json): the read that returns every row in the
    columns `GraphBatch` frames use, so a backup's export goes back through `bulk_write` unchanged."""
    schema = load_json("graph.json")
    out = {}
    for label, spec in schema["nodes"].items():
        cols = list(spec["props"])
        out[label] = (f"MATCH (n:{label}) RETURN " + ", ".join(f"n.{c} AS {c}" for c in cols), cols)
    for rel, spec in schema["relationships"].items():
        cols = ["src", "dst", *spec["props"]]
        keys = "a.id AS src, b.id AS dst" + "".join(f", r.{c} AS {c}" for c in spec["props"])
        out[rel] = (f"MATCH (a:{spec['from']})-[r:{rel}]->(b:{spec['to']}) RETURN {keys}", cols)
    return out
