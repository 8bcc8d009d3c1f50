-- A schema version 2 history as tfrun wrote it (store/store.c at commit b40b645: two runs, a step, a
-- service's state and a token), dumped with `sqlite3 tfrun.db .dump`; the two pragmas .dump leaves out are
-- at the end. tests/unit/store/test-store.c loads it into a new file and opens that: the migration to v3.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE runs (  run_id TEXT PRIMARY KEY NOT NULL,  service TEXT NOT NULL,  trigger TEXT NOT NULL,  attempt INTEGER NOT NULL,  scheduled_usec INTEGER,  started_usec INTEGER NOT NULL,  ended_usec INTEGER,  status TEXT NOT NULL,  reason TEXT,  exit_code INTEGER,  signal INTEGER,  oom INTEGER NOT NULL DEFAULT 0,  peak_memory INTEGER,  cpu_usec INTEGER,  backend TEXT NOT NULL,  log_path TEXT,  manager_id TEXT NOT NULL,  CHECK ((ended_usec IS NULL) = (status = 'running')));
INSERT INTO runs VALUES('old-100-1','old','manual',1,NULL,1700000000000000,1700000001000000,'failure','exited',3,NULL,0,NULL,NULL,'native','/state/logs/old/old-100-1.log','boot:100:1');
INSERT INTO runs VALUES('old-100-2','old','schedule',1,NULL,1700000002000000,NULL,'running',NULL,NULL,NULL,0,NULL,NULL,'docker',NULL,'boot:100:1');
CREATE TABLE steps (  run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,  name TEXT NOT NULL,  position INTEGER NOT NULL,  status TEXT NOT NULL,  exit_code INTEGER,  started_usec INTEGER NOT NULL,  ended_usec INTEGER,  output_size INTEGER,  log_path TEXT,  PRIMARY KEY (run_id, name));
INSERT INTO steps VALUES('old-100-1','a',0,'success',0,1700000000100000,1700000000200000,5,'/state/logs/old/old-100-1.a.log');
CREATE TABLE service_state (  service TEXT PRIMARY KEY NOT NULL,  enabled INTEGER NOT NULL,  last_fire_usec INTEGER,  json TEXT,  updated_usec INTEGER NOT NULL);
INSERT INTO service_state VALUES('old',0,1700000002000000,NULL,1796177027285500);
CREATE TABLE run_counts (  service TEXT NOT NULL,  status TEXT NOT NULL,  total INTEGER NOT NULL,  PRIMARY KEY (service, status)) WITHOUT ROWID;
INSERT INTO run_counts VALUES('old','failure',1);
CREATE TABLE tokens (  name TEXT PRIMARY KEY NOT NULL,  role TEXT NOT NULL,  services TEXT,  hash TEXT NOT NULL UNIQUE,  created_usec INTEGER NOT NULL,  last_used_usec INTEGER);
INSERT INTO tokens VALUES('ci','read','old','0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',1700000000000000,NULL);
CREATE INDEX runs_service_started ON runs(service, started_usec, run_id);
CREATE INDEX runs_started ON runs(started_usec, run_id);
CREATE INDEX runs_status ON runs(status, started_usec, run_id);
CREATE TRIGGER runs_count_insert AFTER INSERT ON runs WHEN NEW.status <> 'running' BEGIN  INSERT INTO run_counts(service, status, total) VALUES (NEW.service, NEW.status, 1)    ON CONFLICT(service, status) DO UPDATE SET total = total + 1;END;
CREATE TRIGGER runs_count_end AFTER UPDATE OF status ON runs  WHEN OLD.status = 'running' AND NEW.status <> 'running' BEGIN  INSERT INTO run_counts(service, status, total) VALUES (NEW.service, NEW.status, 1)    ON CONFLICT(service, status) DO UPDATE SET total = total + 1;END;
COMMIT;
PRAGMA application_id = 1952871029;
PRAGMA user_version = 2;
