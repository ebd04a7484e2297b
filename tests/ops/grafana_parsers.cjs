// Parses queries with the grammars of Grafana's query editors and reports where each has an error node.
// argv[2]: the node_modules folder holding them. stdin: [{"language": "logql" | "traceql", "query": "..."}].
// stdout: one list of [from, to] error spans per query, in order; an empty list is a clean parse.
"use strict";
const path = require("node:path");
const fs = require("node:fs");

const nodeModules = process.argv[2];
const grammars = {
    logql: require(path.join(nodeModules, "@grafana", "lezer-logql")).parser,
    traceql: require(path.join(nodeModules, "@grafana", "lezer-traceql")).parser,
};

function errorSpans(language, query) {
    const spans = [];
    grammars[language].parse(query).iterate({
        enter: (node) => {
            if (node.type.isError) {
                spans.push([node.from, node.to]);
            }
        },
    });
    return spans;
}

const requests = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(requests.map(({ language, query }) => errorSpans(language, query))));
