using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace Luffy.Trainer;

/// <summary>Parses --kebab-case options (and an optional JSON file of the same names) into <see cref="TrainerOptions"/>.</summary>
public static class OptionParser
{
    private static readonly Dictionary<string, string> Descriptions = new()
    {
        ["mode"] = "luffy (on-policy rollouts + off-policy traces), grpo (on-policy only), sft (supervised on the traces) or compare (all three over several seeds)",
        ["model"] = "Hugging Face model folder (config.json + model.safetensors or index + tokenizer.json): train it instead of the embedded task",
        ["data"] = "JSONL training data (prompt messages, reward_model.ground_truth, target trace) for --model",
        ["eval-data"] = "JSONL evaluation data for --model (greedy accuracy on the first eval-per-level records)",
        ["dtype"] = "parameter dtype of --model: float32 or bfloat16",
        ["max-prompt-length"] = "longest prompt in tokens for --model (longer records are skipped)",
        ["system-prompt"] = "for --model records without a system turn: luffy (the reference <think> prompt), qwen or none",
        ["open-think"] = "for --model: the generation prompt opens <think> (traces starting with it are not doubled)",
        ["allow-pickle"] = "for --model: load pytorch_model.bin when there are no safetensors (unpickling can run code)",
        ["device"] = "cpu, cuda or cuda:N (cuda needs a build with -p:TorchBackend=cuda)",
        ["seed"] = "seed of the run (compare uses seeds seed..seed+seeds-1)",
        ["seeds"] = "number of seeds in compare mode",
        ["steps"] = "RL (or SFT) optimizer steps",
        ["prompts-per-step"] = "prompts per step",
        ["samples-per-prompt"] = "G, samples per prompt group",
        ["traces-per-prompt"] = "k, group members that carry an off-policy trace (luffy)",
        ["prefix-strategy"] = "full (whole trace, LUFFY's main run), random, fixed or linear (decay over the run)",
        ["learning-rate"] = "AdamW learning rate",
        ["warmup-steps"] = "linear warmup steps",
        ["lr-schedule"] = "constant or cosine (after warmup)",
        ["weight-decay"] = "AdamW weight decay",
        ["grad-clip"] = "gradient-norm clip",
        ["temperature"] = "rollout sampling temperature (0 = greedy)",
        ["top-p"] = "rollout nucleus mass (1 = off)",
        ["max-response-length"] = "longest response in tokens",
        ["micro-batch"] = "sequences per micro-batch (gradient accumulation)",
        ["rollout-batch"] = "sequences generated together (bounds the KV cache: lower it for long responses on a GPU)",
        ["gamma"] = "policy-shaping gamma of f(p) = p/(p+gamma)",
        ["entropy"] = "entropy bonus coefficient",
        ["clip-on-policy"] = "clip the on-policy ratio (LUFFY's main run: off)",
        ["std-normalize"] = "divide group advantages by the group std (LUFFY's main run: off)",
        ["max-operand"] = "operands are drawn from 1..max-operand",
        ["train-levels"] = "operand counts of the training problems",
        ["ood-levels"] = "operand counts of the out-of-distribution test set (never trained on)",
        ["pretrain-levels"] = "operand counts the base model is pre-trained on (answer only)",
        ["eval-every"] = "evaluate every N steps",
        ["eval-per-level"] = "test problems per level (fixed, seed-independent)",
        ["pretrain-steps"] = "pre-training steps of the base model (cached)",
        ["pretrain-trace-fraction"] = "share of the easiest pre-training level taught with worked solutions (the base has seen the format, never long chains)",
        ["pretrain-batch"] = "pre-training batch size",
        ["pretrain-learning-rate"] = "pre-training learning rate",
        ["d-model"] = "model width",
        ["layers"] = "transformer layers",
        ["heads"] = "attention heads",
        ["checkpoint-every"] = "write a checkpoint every N steps",
        ["output"] = "output folder (runs/<mode>-seed<seed> inside it)",
        ["cache"] = "folder of the cached base model",
        ["resume"] = "continue from the run's last checkpoint",
        ["config"] = "JSON file of options (same names); command-line options win",
    };

    private static readonly PropertyInfo[] Properties = typeof(TrainerOptions).GetProperties().Where(p => p.CanWrite).ToArray();

    public static string Kebab(string name) => JsonNamingPolicy.KebabCaseLower.ConvertName(name);

    public static string Help()
    {
        var defaults = new TrainerOptions();
        var text = new StringBuilder();
        text.AppendLine("Luffy.Trainer: fine-tunes a small transformer with LUFFY (mixed-policy GRPO) on an embedded arithmetic task,");
        text.AppendLine("or a Hugging Face Qwen2/Llama checkpoint on JSONL math data (--model DIR --data FILE).");
        text.AppendLine();
        text.AppendLine("usage: dotnet run --project samples/Luffy.Trainer -c Release -- [options]");
        text.AppendLine();
        foreach (PropertyInfo p in Properties)
        {
            string name = Kebab(p.Name);
            object? value = p.GetValue(defaults);
            string shown = value switch { null => "(none)", bool b => b ? "true" : "false (a flag)", IFormattable f => f.ToString(null, CultureInfo.InvariantCulture), _ => value.ToString()! };
            text.AppendLine(CultureInfo.InvariantCulture, $"  --{name,-24} {Descriptions.GetValueOrDefault(name, "")}");
            text.AppendLine(CultureInfo.InvariantCulture, $"  {"",-26} default: {shown}");
        }
        text.AppendLine("  --help                     this text");
        return text.ToString();
    }

    /// <summary>Parses the arguments; returns null when --help was asked for.</summary>
    public static TrainerOptions? Parse(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            return null;
        }
        var values = new Dictionary<string, string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new OptionException("?", args[i], "options of the form --name value (see --help)");
            }
            string name = args[i][2..];
            PropertyInfo property = Find(name);
            if (property.PropertyType == typeof(bool) && (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal)))
            {
                values[name] = "true";
                continue;
            }
            if (i + 1 >= args.Length)
            {
                throw new OptionException(name, "", "a value after the option");
            }
            values[name] = args[++i];
        }

        var options = new TrainerOptions();
        if (values.TryGetValue("config", out string? config))
        {
            options = FromJson(config);
        }
        foreach ((string name, string value) in values)
        {
            options = With(options, Find(name), value, name);
        }
        options.Validate();
        return options;
    }

    private static TrainerOptions FromJson(string path)
    {
        if (!File.Exists(path))
        {
            throw new OptionException("config", path, "an existing JSON file");
        }
        try
        {
            var options = new TrainerOptions();
            using JsonDocument document = JsonDocument.Parse(File.ReadAllText(path));
            foreach (JsonProperty entry in document.RootElement.EnumerateObject())
            {
                string name = entry.Name.StartsWith("--", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
                string value = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : entry.Value.GetRawText();
                options = With(options, Find(name, $"{path}: "), value, name);
            }
            return options with { Config = path };
        }
        catch (JsonException ex)
        {
            throw new OptionException("config", path, $"a valid JSON object of options ({ex.Message})");
        }
    }

    private static PropertyInfo Find(string name, string where = "") =>
        Properties.FirstOrDefault(p => Kebab(p.Name) == name) ?? throw new OptionException(name, where + "unknown option", "one of the options listed by --help");

    private static TrainerOptions With(TrainerOptions options, PropertyInfo property, string value, string name)
    {
        object parsed;
        try
        {
            parsed = property.PropertyType switch
            {
                Type t when t == typeof(int) => int.Parse(value, NumberStyles.Integer, CultureInfo.InvariantCulture),
                Type t when t == typeof(double) => double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture),
                Type t when t == typeof(bool) => bool.Parse(value),
                _ => value,
            };
        }
        catch (FormatException)
        {
            throw new OptionException(name, value, property.PropertyType == typeof(bool) ? "true or false" : $"a {(property.PropertyType == typeof(int) ? "whole number" : "number")}");
        }
        catch (OverflowException)
        {
            throw new OptionException(name, value, "a number in range");
        }
        TrainerOptions copy = options with { };
        property.SetValue(copy, parsed);
        return copy;
    }
}
