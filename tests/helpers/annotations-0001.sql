-- An annotations database as the first schema (migration 0001) made it: one current vote and
-- its history (a changed mind). Rebuild: alembic upgrade to 0001, the inserts, sqlite3 .dump.
BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('0001');
CREATE TABLE vote_history (
	id INTEGER NOT NULL, 
	action VARCHAR(8) NOT NULL, 
	dataset VARCHAR(200) NOT NULL, 
	face VARCHAR(500) NOT NULL, 
	annotator VARCHAR(100) NOT NULL, 
	emotion VARCHAR(16), 
	cast_at DATETIME NOT NULL, 
	seconds FLOAT, 
	strategy VARCHAR(32) NOT NULL, 
	blind BOOLEAN NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "vote_history" VALUES(1,'vote','ferplus:valid','fer0000001.png','ada','sadness','2025-01-02 03:04:00.000000',1.0,'random',1);
INSERT INTO "vote_history" VALUES(2,'vote','ferplus:valid','fer0000001.png','ada','happiness','2025-01-02 03:04:05.000000',2.5,'random',1);
CREATE TABLE votes (
	id INTEGER NOT NULL, 
	dataset VARCHAR(200) NOT NULL, 
	face VARCHAR(500) NOT NULL, 
	annotator VARCHAR(100) NOT NULL, 
	emotion VARCHAR(16) NOT NULL, 
	cast_at DATETIME NOT NULL, 
	seconds FLOAT, 
	strategy VARCHAR(32) NOT NULL, 
	blind BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT one_vote_per_face UNIQUE (dataset, face, annotator)
);
INSERT INTO "votes" VALUES(1,'ferplus:valid','fer0000001.png','ada','happiness','2025-01-02 03:04:05.000000',2.5,'random',1);
CREATE INDEX ix_votes_dataset ON votes (dataset);
CREATE INDEX ix_votes_annotator ON votes (annotator);
COMMIT;
