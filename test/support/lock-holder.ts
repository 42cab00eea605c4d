/**
 * A second process on a store's SQLite file, the way a `dke key` command or a backup would be:
 *   node lock-holder.js <db> <immediate|exclusive> <holdMs>
 * takes the write lock, prints `locked`, holds it for holdMs, commits and prints `released`.
 * Without arguments (the test runner loads every file under test/) it does nothing.
 */
import Database from 'better-sqlite3';

const [file, mode, hold] = process.argv.slice(2);
if (file !== undefined && (mode === 'immediate' || mode === 'exclusive')) {
  const db = new Database(file);
  db.pragma('busy_timeout = 10000');
  db.exec(`BEGIN ${mode.toUpperCase()}`);
  // A real write, so the lock is the one a writer holds (not just a reserved-but-idle transaction).
  db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES ('lock-holder', ?)").run(String(Date.now()));
  process.stdout.write('locked\n');
  setTimeout(() => {
    db.exec('COMMIT');
    db.close();
    process.stdout.write('released\n');
  }, Number(hold));
}
