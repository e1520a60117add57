/* global db, print */
// The lab's `mongo` (/usr/local/bin/mongo of harness/images/guest-packages/layer): what the legacy mongo shell of MongoDB
// 3.x did differently from mongosh, for scripts written for it, evaluated by mongosh before them.
(function () {
    // db.auth(): 1 on success, else the error on one line and 0, the connection as it was (mongosh
    // throws instead). Every database (db.getSiblingDB(...)) shares this prototype.
    const proto = Object.getPrototypeOf(db);
    const mongoshAuth = proto.auth;
    proto.auth = function (...args) {
        try {
            mongoshAuth.apply(this, args);
            return 1;
        } catch (e) {
            print("Error: " + e.message);
            return 0;
        }
    };
    // No prompt on a script read from stdin (the legacy shell printed none there); the interactive
    // shell keeps mongosh's.
    if (!process.stdin.isTTY) {
        globalThis.prompt = function () {
            return "";
        };
    }
})();
