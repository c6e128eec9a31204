// SPDX-License-Identifier: MIT
// EAMM talking face in a .blend, as a Flamenco custom job type (docs/farm.md, "Flamenco").
// Copy this file into the `scripts/` folder beside flamenco-manager. Three stages, like
// farm/openjd/eamm_blender_shot.yaml: motion (one task) -> render (one task per chunk of scene
// frames) -> assemble (imports the strip, saves the .blend once). Every task is a `blender-render`
// command running the EAMM extension's render.py.

const JOB_TYPE = {
    label: "EAMM Talking Face",
    description: "Generate the EAMM strip of a .blend in chunks of frames, then import it",
    settings: [
        { key: "blendfile", type: "string", required: true, visible: "web",
          description: "The .blend with the EAMM settings and curves" },
        // the scene's frame range by default; the link button lets the artist type the sound strip's
        { key: "frame_start", type: "int32", required: true, eval: "C.scene.frame_start",
          evalInfo: { showLinkButton: true, description: "Scene start frame" },
          description: "First scene frame of the sound strip (chunks outside it render nothing)" },
        { key: "frame_end", type: "int32", required: true, eval: "C.scene.frame_end",
          evalInfo: { showLinkButton: true, description: "Scene end frame" },
          description: "Last scene frame of the sound strip" },
        { key: "chunk_size", type: "int32", default: 100,
          description: "Scene frames per render task (1 or more)" },
        { key: "render_script", type: "string", subtype: "file_path", required: true,
          description: "render.py of the EAMM extension, as the workers see it" },
        { key: "output_dir", type: "string", subtype: "dir_path", required: true,
          description: "Shared folder for the frames (replaces the scene's EAMM output folder)" },
        { key: "server_url", type: "string", default: "",
          description: "A studio-wide eamm-server; empty: every task starts one on its worker and stops it after" },
        { key: "server_cache", type: "string", subtype: "dir_path", default: "",
          description: "With servers started by the tasks: a shared stage cache, so chunks reuse the motion step" },
        { key: "scene", type: "string", default: "", visible: "submission",
          description: "Scene name (empty: the active scene)" },
    ],
};

// Consecutive inclusive ranges of at most `size` frames covering start..end.
function eammChunks(start, end, size) {
    const chunks = [];
    for (let first = start; first <= end; first += size) {
        chunks.push([first, Math.min(end, first + size - 1)]);
    }
    return chunks;
}

// The arguments after the .blend: run render.py for one stage.
function eammArgs(settings, stageArgs) {
    const args = ["--python-exit-code", "1", "--python", settings.render_script, "--"];
    args.push(...stageArgs, "--out", settings.output_dir);
    if (settings.scene) args.push("--scene", settings.scene);
    return args;
}

function eammServerArgs(settings) {
    if (settings.server_url) return ["--server", settings.server_url];
    const args = ["--start-server"];
    if (settings.server_cache) args.push("--server-cache", settings.server_cache);
    return args;
}

function eammTask(settings, name, stageArgs) {
    const task = author.Task(name, "blender");
    task.addCommand(author.Command("blender-render", {
        exe: "{blender}",
        exeArgs: "{blenderArgs}",  // "-b -y" unless the Manager's variables say otherwise
        argsBefore: [],
        blendfile: settings.blendfile,
        args: eammArgs(settings, stageArgs),
    }));
    return task;
}

function compileJob(job) {
    const settings = job.settings;
    const start = Number(settings.frame_start);
    const end = Number(settings.frame_end);
    const size = settings.chunk_size === undefined || settings.chunk_size === null ? 100 : Number(settings.chunk_size);
    if (!Number.isInteger(start) || !Number.isInteger(end) || end < start) {
        throw `EAMM: frame_end (${settings.frame_end}) must be a whole number not below frame_start (${settings.frame_start})`;
    }
    if (!Number.isInteger(size) || size < 1) {
        throw `EAMM: chunk_size must be 1 or more, not ${settings.chunk_size}`;
    }
    const server = eammServerArgs(settings);

    const motion = eammTask(settings, "eamm-motion", ["--stage", "motion", ...server]);
    job.addTask(motion);

    const renders = [];
    for (const [first, last] of eammChunks(start, end, size)) {
        const task = eammTask(settings, `eamm-render-${first}-${last}`,
            ["--stage", "render", "--frame-start", String(first), "--frame-end", String(last), ...server]);
        task.addDependency(motion);
        job.addTask(task);
        renders.push(task);
    }

    const assemble = eammTask(settings, "eamm-assemble", ["--stage", "assemble"]);
    for (const task of renders) assemble.addDependency(task);
    job.addTask(assemble);
}
