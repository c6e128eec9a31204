// A small stand-in for Flamenco's job-compiler API (author.Task, author.Command, task.addCommand,
// task.addDependency, job.addTask), enough to run a job type's compileJob under node:
//     node flamenco_standin.js <job type script> <settings JSON>
// Prints {"job_type": JOB_TYPE, "tasks": [{name, type, commands: [{type, parameters}], dependencies: [names]}]}.
"use strict";
const fs = require("fs");
const vm = require("vm");

const [script, settingsJson] = process.argv.slice(2);
const tasks = [];
const author = {
    Task(name, type) {
        const task = { name, type, commands: [], dependencies: [] };
        return {
            _task: task,
            addCommand(command) { task.commands.push(command); },
            addDependency(other) {
                if (!other || !other._task) throw new Error(`addDependency on ${name}: not a task`);
                task.dependencies.push(other._task.name);
            },
        };
    },
    Command(type, parameters) { return { type, parameters }; },
};
const job = {
    settings: JSON.parse(settingsJson),
    addTask(task) {
        if (!task || !task._task) throw new Error("addTask: not a task");
        tasks.push(task._task);
    },
};
const context = vm.createContext({ author, print: console.error, console });
vm.runInContext(fs.readFileSync(script, "utf8") + "\n;this.JOB_TYPE = JOB_TYPE; this.compileJob = compileJob;",
                context, { filename: script });
try {
    context.compileJob(job);
} catch (err) {
    console.error(`compileJob failed: ${err}`);
    process.exit(2);
}
process.stdout.write(JSON.stringify({ job_type: context.JOB_TYPE, tasks }));
