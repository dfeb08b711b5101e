using System.Text.Json.Nodes;
using Luffy.Trainer.HuggingFace;
using Luffy.Trainer.Reasoning;
using Luffy.Trainer.Tests.HuggingFace;
using Luffy.Trainer.Training;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests.Reasoning;

[Collection("torch")]
public sealed class ReasoningTaskTests : IDisposable
{
    private readonly TinyCheckpoints files = new();
    private readonly string model;
    private readonly string data;

    public ReasoningTaskTests()
    {
        model = files.Write("qwen", "qwen2", tied: true, seed: 2);
        data = Path.Combine(files.Folder, "train.jsonl");
        var lines = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            var record = new JsonObject
            {
                ["prompt"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = $"{i}+{i}?" }),
                ["reward_model"] = new JsonObject { ["ground_truth"] = $"{2 * i}" },
                ["target"] = new JsonArray(new JsonObject { ["role"] = "assistant", ["content"] = $"<think>\n{i}+{i}={2 * i}</think>\n\\boxed{{{2 * i}}}" }),
            };
            lines.Add(record.ToJsonString());
        }
        lines.Add("""{"prompt": "a prompt far too long for the limit: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "answer": "1"}""");
        File.WriteAllLines(data, lines);
    }

    public void Dispose() => files.Dispose();

    private TrainerOptions Options(string mode = "luffy") => new()
    {
        Mode = mode, Model = model, Data = data, EvalData = data, SystemPrompt = "none", MaxPromptLength = 40, MaxResponseLength = 24,
        Steps = 2, PromptsPerStep = 2, SamplesPerPrompt = 3, TracesPerPrompt = 1, MicroBatch = 4, EvalPerLevel = 3, EvalEvery = 1,
        CheckpointEvery = 2, LearningRate = 1e-2, WarmupSteps = 0, Output = Path.Combine(files.Folder, "runs"),
    };

    private ReasoningTask NewTask(TrainerOptions options)
    {
        HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.Load(Path.Combine(model, "tokenizer.json"));
        return new ReasoningTask(tokenizer, TransformerConfig.Load(Path.Combine(model, "config.json")), data, data, options);
    }

    [Fact]
    public void Prompts_follow_the_chat_template_and_traces_end_inside_the_assistant_turn()
    {
        ReasoningTask task = NewTask(Options());
        HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.Load(Path.Combine(model, "tokenizer.json"));
        TaskPrompt first = task.Prompts(1, 1, 1)[0];
        Assert.Equal("<|im_start|>user\n0+0?<|im_end|>\n<|im_start|>assistant\n<think>\n", tokenizer.Decode(first.Tokens));
        Assert.Equal("0+0=0</think>\n\\boxed{0}", tokenizer.Decode(first.Trace!.Tokens));
        Assert.Equal(258, task.EosTokenIds[0]); // <|im_end|> is appended to traces
        Assert.Equal(256, task.PadTokenId);
        Assert.Equal(1.0, task.Reward(first, first.Trace.Tokens));
        Assert.Equal(0.0, task.Reward(first, tokenizer.Encode("\\boxed{1}")));
    }

    [Fact]
    public void Steps_walk_through_the_file_in_order_wrap_around_and_skip_long_prompts()
    {
        ReasoningTask task = NewTask(Options());
        string Question(TaskPrompt p) => ((ReasoningRecord)p.Problem).Prompt[0].Content;
        Assert.Equal(["0+0?", "1+1?"], task.Prompts(1, 1, 2).Select(Question));
        Assert.Equal(["2+2?", "3+3?"], task.Prompts(1, 2, 2).Select(Question));
        Assert.Equal(["4+4?", "0+0?"], task.Prompts(1, 3, 2).Select(Question)); // the too-long record is skipped, then the file wraps
        Assert.Equal(1, task.SkippedRecords);
        Assert.Equal(["2+2?", "3+3?"], NewTask(Options()).Prompts(1, 2, 2).Select(Question)); // a resumed run starts where step 2 starts
    }

    [Theory]
    [InlineData("luffy", "float32")]
    [InlineData("grpo", "float32")]
    [InlineData("luffy", "bfloat16")]
    public async Task The_trainer_runs_luffy_on_a_hugging_face_checkpoint_and_exports_it(string mode, string dtype)
    {
        TrainerOptions options = Options(mode);
        int exit = await TrainerApp.RunAsync(
        [
            "--mode", mode, "--model", model, "--data", data, "--eval-data", data, "--system-prompt", "none", "--max-prompt-length", "40",
            "--max-response-length", "24", "--steps", "2", "--prompts-per-step", "2", "--samples-per-prompt", "3", "--micro-batch", "4",
            "--eval-per-level", "3", "--eval-every", "1", "--checkpoint-every", "2", "--learning-rate", "0.01", "--warmup-steps", "0", "--rollout-batch", "2",
            "--output", options.Output, "--dtype", dtype,
        ]);
        Assert.Equal(0, exit);
        string run = Path.Combine(options.Output, $"{mode}-seed1");
        string[] metrics = File.ReadAllLines(Path.Combine(run, "metrics.jsonl"));
        Assert.Contains(metrics, line => line.Contains("\"step\":2", StringComparison.Ordinal) && line.Contains("\"loss\"", StringComparison.Ordinal));
        Assert.Equal(3, metrics.Length); // steps 0, 1, 2: one record each, evaluations inside them
        string exported = Path.Combine(run, "hf-model");
        Assert.True(File.Exists(Path.Combine(exported, "tokenizer.json")));
        using DecoderLanguageModel original = HuggingFaceCheckpoint.Load(model);
        using DecoderLanguageModel trained = HuggingFaceCheckpoint.Load(exported);
        Assert.Equal(dtype, JsonNode.Parse(File.ReadAllText(Path.Combine(exported, "config.json")))!["torch_dtype"]!.GetValue<string>());
        Tensor before = original.state_dict()["model.embed_tokens.weight"], after = trained.state_dict()["model.embed_tokens.weight"];
        Assert.True((before - after).abs().max().item<float>() > 0, "the exported weights are the trained ones");
    }

    [Fact]
    public void The_task_has_no_difficulty_levels_so_summaries_name_none() => Assert.Null(NewTask(Options()).LevelLabel);

    [Fact]
    public async Task Bad_model_or_data_options_exit_with_an_error()
    {
        Assert.Equal(2, await TrainerApp.RunAsync(["--model", model]));
        Assert.Equal(2, await TrainerApp.RunAsync(["--model", model, "--data", Path.Combine(files.Folder, "missing.jsonl")]));
        Assert.Equal(2, await TrainerApp.RunAsync(["--model", model, "--data", data, "--mode", "compare"]));
        Assert.Equal(2, await TrainerApp.RunAsync(["--model", model, "--data", data, "--dtype", "float8"]));
        string broken = Path.Combine(files.Folder, "broken.jsonl");
        File.WriteAllLines(broken, ["{ nope"]);
        Assert.Equal(2, await TrainerApp.RunAsync(["--model", model, "--data", broken, "--steps", "1", "--output", Path.Combine(files.Folder, "runs2")]));
    }
}
