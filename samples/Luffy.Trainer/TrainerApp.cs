using System.Globalization;
using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.HuggingFace;
using Luffy.Trainer.Model;
using Luffy.Trainer.Reasoning;
using Luffy.Trainer.Reporting;
using Luffy.Trainer.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace Luffy.Trainer;

/// <summary>The command-line program: parses options, then runs one mode or the comparison.</summary>
public static class TrainerApp
{
    public static Task<int> RunAsync(string[] args)
    {
        TrainerOptions? options;
        try
        {
            options = OptionParser.Parse(args);
        }
        catch (OptionException ex)
        {
            Error(ex.Message);
            Console.Error.WriteLine("Run with --help to list every option and its default.");
            return Task.FromResult(2);
        }
        if (options is null)
        {
            Console.Write(OptionParser.Help());
            return Task.FromResult(0);
        }

        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 200; // a log file: tables unwrapped instead of squeezed to 80 columns
        }
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cancellation.IsCancellationRequested)
            {
                e.Cancel = false; // a second Ctrl+C ends the process at once (the last committed checkpoint stays)
                return;
            }
            e.Cancel = true;
            cancellation.Cancel();
            AnsiConsole.MarkupLine("[yellow]interrupt: stopping at the end of the current step (a training run saves a checkpoint first); Ctrl+C again aborts at once[/]");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            // every folder the run writes is checked before any work starts
            OutputFolders.EnsureWritable(options.Output, "output");
            if (options.Model is null)
            {
                OutputFolders.EnsureWritable(options.CacheFolder, "cache");
            }
            // one trainer per output folder, checked before minutes of pre-training (each run folder has its own lock too)
            using RunLock outputLock = RunLock.Acquire(options.Output);
            Device device = ResolveDevice(options.Device);
            AnsiConsole.MarkupLineInterpolated($"[bold]Luffy.Trainer[/] mode [aqua]{options.Mode}[/] on [aqua]{device}[/], {Environment.ProcessorCount} cores, torch threads {get_num_threads()}");
            if (options.Model is not null)
            {
                return Task.FromResult(RunHuggingFace(options, device, cancellation.Token));
            }
            SweepResult? sweep = options.Mode == "compare" ? CompareRunner.LoadSweep(options) : null;
            var data = new TaskData(new CharTokenizer(), options.MaxOperand);
            TinyTransformer baseModel = WithProgress("pre-training base model", progress => BaseModel.LoadOrPretrain(options, data, device, Log, progress, cancellation.Token));
            var task = new ArithmeticTask(options, data);
            if (options.Mode == "sweep")
            {
                return Task.FromResult(SweepRunner.Run(options, task, baseModel, device, cancellation.Token));
            }
            if (options.Mode == "compare")
            {
                return Task.FromResult(CompareRunner.Run(options, sweep, task, baseModel, device, cancellation.Token));
            }
            Log("training: " + options.Method.Description);
            RunSummary summary = SingleRun.Run(options, options.Method, options.Seed, task, baseModel.Copy(), device, cancellation.Token, progressUi: true, reference: baseModel.Copy());
            SingleRun.Print(summary);
            return Task.FromResult(summary.Cancelled ? 130 : 0);
        }
        catch (Exception ex) when (ex is OptionException or CheckpointException or SafetensorsException or DataFormatException or FileNotFoundException or RunLockedException)
        {
            Error(ex.Message);
            return Task.FromResult(2);
        }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]interrupted before the first step: nothing was written[/]");
            return Task.FromResult(130);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Error(ex.Message);
            Console.Error.WriteLine("The last complete checkpoint, if one was written, is intact: continue with --resume once the problem is fixed.");
            return Task.FromResult(1);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>
    /// <c>--model DIR --data FILE</c>: LUFFY (or GRPO / SFT) on a Hugging Face checkpoint; the fine-tuned weights are
    /// exported next to every checkpoint as <c>&lt;run&gt;/hf-model</c> in the same layout.
    /// </summary>
    public static int RunHuggingFace(TrainerOptions options, Device device, CancellationToken cancel)
    {
        string dir = options.Model!;
        ScalarType dtype = options.Dtype == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.Load(Path.Combine(dir, "tokenizer.json"));
        DecoderLanguageModel model = HuggingFaceCheckpoint.Load(dir, dtype, options.AllowPickle);
        long parameters = model.parameters().Sum(p => p.numel());
        Log(string.Create(CultureInfo.InvariantCulture, $"model: {model.Config.ModelType}, {parameters / 1e6:F1}M parameters in {options.Dtype}, {model.Config.Layers} layers, vocabulary {model.Config.VocabularySize}; loaded from {dir} in {clock.Elapsed.TotalSeconds:F1} s"));
        if (options.MaxPromptLength + options.MaxResponseLength > model.Config.MaxPositions)
        {
            Log($"warning: max-prompt-length + max-response-length = {options.MaxPromptLength + options.MaxResponseLength} exceeds the model's max_position_embeddings = {model.Config.MaxPositions}");
        }
        var task = new ReasoningTask(tokenizer, model.Config, options.Data!, options.EvalData, options);
        void Export(CausalLanguageModel trained, string runDirectory) =>
            HuggingFaceCheckpoint.Save((DecoderLanguageModel)trained, Path.Combine(runDirectory, "hf-model"), dir);
        DecoderLanguageModel? reference = options.KlCoefficient > 0 ? HuggingFaceCheckpoint.Load(dir, dtype, options.AllowPickle) : null;
        RunSummary summary = SingleRun.Run(options, options.Method, options.Seed, task, model, device, cancel, progressUi: true, Export, reference: reference);
        SingleRun.Print(summary);
        Log($"fine-tuned weights: {Path.Combine(options.Output, $"{options.Mode}-seed{options.Seed}", "hf-model")} (config.json, tokenizer, safetensors)");
        if (task.SkippedRecords > 0)
        {
            Log($"{task.SkippedRecords} training records were skipped: prompt longer than max-prompt-length = {options.MaxPromptLength}");
        }
        return summary.Cancelled ? 130 : 0;
    }

    /// <summary>An error for the user: one unwrapped line on standard error (scripts and tests read it whole).</summary>
    public static void Error(string message) => Console.Error.WriteLine("error: " + message);

    public static void Log(string message) => AnsiConsole.MarkupLineInterpolated($"[grey]{message}[/]");

    public static Device ResolveDevice(string name)
    {
        if (name == "cpu")
        {
            return CPU;
        }
        if (!cuda.is_available())
        {
            throw new OptionException("device", name, "cpu: CUDA is not available in this build or on this machine (build with -p:TorchBackend=cuda on a machine with an NVIDIA GPU)");
        }
        return new Device(name);
    }

    /// <summary>Runs <paramref name="work"/> under a Spectre progress bar fed by (done, total) callbacks.</summary>
    public static T WithProgress<T>(string title, Func<Action<int, int>, T> work)
    {
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                ProgressTask task = context.AddTask(title, maxValue: 1);
                result = work((done, total) =>
                {
                    task.MaxValue = total;
                    task.Value = done;
                });
                task.Value = task.MaxValue;
            });
        return result;
    }

    public static string Percent(double value) => double.IsNaN(value) ? "-" : (100 * value).ToString("F1", CultureInfo.InvariantCulture) + "%";

    /// <summary>A share as a percentage, anything else with three decimals; NaN as "-".</summary>
    public static string Number(double value, bool share) =>
        share ? Percent(value) : double.IsNaN(value) ? "-" : value.ToString("F3", CultureInfo.InvariantCulture);

    /// <summary>Whether an evaluation measure is a share (shown as a percentage): all but the entropy, the trace log-likelihood and the KL from the base, which are nats per token.</summary>
    public static bool IsShare(string measure) => measure is not ("entropy" or "trace-log-likelihood" or "trace-start-log-likelihood" or Evaluator.KlFromBase);
}
