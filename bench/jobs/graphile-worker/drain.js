// bench/jobs' baseline: graphile-worker draining N no-op jobs queued in one
// transaction, on the server bench/jobs/run.sh started (PGHOST, PGPORT,
// PGUSER, PGDATABASE from the environment), in its own schema
// (graphile_worker).  Prints one line: "<jobs per second> <seconds>".
//
//   N            jobs (default 20000)
//   CONCURRENCY  jobs run at once by the one worker instance (default 4)
//   MODE         "single": graphile-worker as it comes, each job fetched and
//                completed on its own;
//                "batched": its documented batching (docs: Performance):
//                a local queue that fetches and locks LOCAL_QUEUE jobs at
//                once (default 32, the batch nexplane's workers claim) and
//                completions batched (completeJobBatchDelay 0).
//
// Timed like nexplane's side, with the server's clock: from the commit of
// the enqueuing transaction (pg_xact_commit_timestamp; the bench turns on
// track_commit_timestamp) to the first moment the server shows no job left
// (graphile-worker deletes a job when it completes it).  Only after the
// last completion event does this poll, so the polling adds no load.
"use strict";
const { Pool } = require("pg");
const { run, runMigrations, Logger } = require("graphile-worker");

const N = parseInt(process.env.N || "20000", 10);
const CONCURRENCY = parseInt(process.env.CONCURRENCY || "4", 10);
const MODE = process.env.MODE || "single";
const LOCAL_QUEUE = parseInt(process.env.LOCAL_QUEUE || "32", 10);

// Quiet: graphile-worker logs every job at "info", and printing 20,000
// lines would measure the terminal.
const logger = new Logger(() => (level, message) => {
  if (level === "error") console.error(message);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const pgPool = new Pool({ max: 10 });
  pgPool.on("error", (e) => console.error("pool:", e.message));
  pgPool.on("connect", (c) => c.on("error", (e) => console.error("client:", e.message)));
  await runMigrations({ pgPool, logger });
  // a previous round's leftovers would be drained in this one's time
  await pgPool.query("DELETE FROM graphile_worker._private_jobs");

  let done = 0;
  let allDone;
  const finished = new Promise((r) => (allDone = r));
  const worker =
    MODE === "batched"
      ? { localQueue: { size: LOCAL_QUEUE }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }
      : {};
  const runner = await run({
    pgPool,
    logger,
    concurrency: CONCURRENCY,
    noHandleSignals: true,
    taskList: { noop: async () => {} },
    preset: { worker },
  });
  runner.events.on("job:complete", () => {
    if (++done === N) allDone();
  });
  runner.events.on("job:error", ({ error }) => console.error("job failed:", error));
  await sleep(500); // idle workers, listening, before the jobs come

  const client = await pgPool.connect();
  let xid;
  try {
    await client.query("BEGIN");
    await client.query(
      `SELECT graphile_worker.add_jobs(array(
         SELECT ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
           FROM generate_series(1, $1::int)))`,
      [N],
    );
    xid = (await client.query("SELECT pg_current_xact_id()::xid AS x")).rows[0].x;
    await client.query("COMMIT");
  } finally {
    client.release();
  }

  await finished;
  let seconds;
  for (;;) {
    const r = await pgPool.query(
      `SELECT NOT EXISTS (SELECT 1 FROM graphile_worker._private_jobs) AS empty,
              extract(epoch FROM clock_timestamp() - pg_xact_commit_timestamp($1::xid)) AS s`,
      [xid],
    );
    if (r.rows[0].empty) {
      seconds = parseFloat(r.rows[0].s);
      break;
    }
    await sleep(2);
  }
  await runner.stop();
  await pgPool.end();
  console.log(`${Math.round(N / seconds)} ${seconds.toFixed(3)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
