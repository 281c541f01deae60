// ganyun-vcsim: VMware's govmomi simulator (the code behind vcsim) serving one seeded vCenter.
//
// Built by lab/vsphere/build.py from Debian's golang-github-vmware-govmomi-dev (0.24.2) in
// GOPATH mode. It reads the login on stdin as JSON ({"username": ..., "password": ...}) so that
// the password is never on a command line or in a file, builds the inventory described by the
// seed file through the vSphere API itself, then writes the ready file and serves HTTPS until
// SIGTERM.
//
// Two fixes to 0.24.2 live here instead of in a patched copy of the library:
//   - PropertyCollector.Fetch (pyVmomi >= 8 calls it for every lazy property read) panics on a
//     property that is unset; vCenter answers it with no value, and so does this server.
//   - A panic in any other handler becomes a SOAP fault instead of a dropped connection.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type login struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type hostSeed struct {
	Name        string `json:"name"`
	CPUVendor   string `json:"cpu_vendor"` // HostCpuPackage.vendor: intel, amd, hygon, arm
	CPUModel    string `json:"cpu_model"`  // HostCpuPackage.description
	Sockets     int16  `json:"sockets"`
	Cores       int16  `json:"cores"` // per socket
	Threads     int16  `json:"threads"`
	MHz         int64  `json:"mhz"`
	MemoryMB    int64  `json:"memory_mb"`
	Vendor      string `json:"vendor"` // server maker
	Model       string `json:"model"`
	ProductName string `json:"product"` // e.g. "VMware ESXi 7.0.3 build-20036589"
}

type clusterSeed struct {
	Name  string     `json:"name"`
	Hosts []hostSeed `json:"hosts"`
}

type datastoreSeed struct {
	Name       string `json:"name"`
	Dir        string `json:"dir"`
	CapacityGB int64  `json:"capacity_gb"`
}

type diskSeed struct {
	Datastore  string `json:"datastore"`
	Path       string `json:"path"` // inside the datastore; the file exists already
	CapacityKB int64  `json:"capacity_kb"`
	Thin       bool   `json:"thin"`
}

type vmSeed struct {
	Name          string            `json:"name"`
	Host          string            `json:"host"`
	GuestID       string            `json:"guest_id"`
	GuestFullName string            `json:"guest_full_name"`
	CPUs          int32             `json:"cpus"`
	MemoryMB      int64             `json:"memory_mb"`
	Disks         []diskSeed        `json:"disks"`
	Network       string            `json:"network"`
	IP            string            `json:"ip"`
	GuestHostName string            `json:"guest_hostname"`
	PowerOn       bool              `json:"power_on"`
	Attributes    map[string]string `json:"attributes"`
}

type seed struct {
	Datacenter string          `json:"datacenter"`
	Switch     string          `json:"switch"`
	Networks   []string        `json:"networks"`
	Clusters   []clusterSeed   `json:"clusters"`
	Datastores []datastoreSeed `json:"datastores"`
	Attributes []string        `json:"attributes"`
	VMs        []vmSeed        `json:"vms"`
}

func main() {
	seedPath := flag.String("seed", "", "seed JSON file")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	certFile := flag.String("cert", "", "TLS certificate (PEM)")
	keyFile := flag.String("key", "", "TLS private key (PEM)")
	readyPath := flag.String("ready", "", "file written once the inventory is seeded")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	var creds login
	if err := json.NewDecoder(os.Stdin).Decode(&creds); err != nil || creds.Username == "" || creds.Password == "" {
		log.Fatalf("stdin: expected {\"username\": ..., \"password\": ...}")
	}
	var spec seed
	raw, err := ioutil.ReadFile(*seedPath)
	if err != nil {
		log.Fatalf("seed: %v", err)
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		log.Fatalf("seed %s: %v", *seedPath, err)
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("tls: %v", err)
	}

	model := simulator.VPX()
	model.Autostart = false
	model.Datacenter = 1
	model.Cluster = 0
	model.ClusterHost = 0
	model.Host = 0
	model.Datastore = 0
	model.Machine = 0
	model.Portgroup = 0
	if err := model.Create(); err != nil {
		log.Fatalf("model: %v", err)
	}
	defer model.Remove()
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(creds.Username, creds.Password)}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	server := model.Service.NewServer()
	// Nobody knows the port before the ready file is written: no request is in flight yet.
	server.Config.Handler = guard(server.Config.Handler)
	defer server.Close()

	ctx := context.Background()
	if err := build(ctx, server.URL, &spec); err != nil {
		log.Fatalf("seed: %v", err)
	}
	announce(*readyPath, server.URL)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	log.Printf("stopping")
}

// announce writes {"pid", "url"} atomically: the starter polls for this file.
func announce(path string, u *url.URL) {
	clean := *u
	clean.User = nil
	data, _ := json.Marshal(map[string]interface{}{"pid": os.Getpid(), "url": clean.String(), "host": clean.Host})
	tmp := path + ".tmp"
	if err := ioutil.WriteFile(tmp, data, 0o600); err != nil {
		log.Fatalf("ready file: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		log.Fatalf("ready file: %v", err)
	}
}

// ------------------------------------------------------------------ panic guard

const soapFault = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail><SystemErrorFault xmlns="urn:vim25" xsi:type="SystemError"><reason>%s</reason></SystemErrorFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`

const emptyFetch = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><FetchResponse xmlns="urn:vim25"></FetchResponse></soapenv:Body></soapenv:Envelope>`

type recorder struct {
	http.ResponseWriter
	wrote bool
}

func (r *recorder) WriteHeader(code int) {
	r.wrote = true
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/sdk") {
			body, _ = ioutil.ReadAll(io.LimitReader(r.Body, 64<<20))
			_ = r.Body.Close()
			r.Body = ioutil.NopCloser(bytes.NewReader(body))
		}
		rec := &recorder{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			if rec.wrote {
				log.Printf("panic after the answer started: %v", p)
				return
			}
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			if bytes.Contains(body, []byte("<Fetch ")) || bytes.Contains(body, []byte("<Fetch>")) {
				// An unset property: vCenter's answer carries no value.
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, emptyFetch)
				return
			}
			log.Printf("handler panic: %v", p)
			msg := xmlEscape(fmt.Sprint(p))
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = fmt.Fprintf(w, soapFault, msg, msg)
		}()
		next.ServeHTTP(rec, r)
	})
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	for _, c := range s {
		switch c {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// ------------------------------------------------------------------ seeding

func build(ctx context.Context, u *url.URL, spec *seed) error {
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	defer func() { _ = c.Logout(ctx) }()
	finder := find.NewFinder(c.Client, false)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	if spec.Datacenter != "" {
		if err := wait(dc.Rename(ctx, spec.Datacenter)); err != nil {
			return fmt.Errorf("rename datacenter: %w", err)
		}
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}

	dvs, portgroups, err := buildNetworks(ctx, c, folders, spec)
	if err != nil {
		return err
	}

	hosts := map[string]*object.HostSystem{}
	pools := map[string]*object.ResourcePool{}
	for _, cs := range spec.Clusters {
		cluster, err := folders.HostFolder.CreateCluster(ctx, cs.Name, types.ClusterConfigSpecEx{})
		if err != nil {
			return fmt.Errorf("cluster %s: %w", cs.Name, err)
		}
		pool, err := cluster.ResourcePool(ctx)
		if err != nil {
			return err
		}
		for _, hs := range cs.Hosts {
			task, err := cluster.AddHost(ctx, types.HostConnectSpec{HostName: hs.Name}, true, nil, nil)
			if err != nil {
				return fmt.Errorf("host %s: %w", hs.Name, err)
			}
			info, err := task.WaitForResult(ctx, nil)
			if err != nil {
				return fmt.Errorf("host %s: %w", hs.Name, err)
			}
			host := object.NewHostSystem(c.Client, info.Result.(types.ManagedObjectReference))
			setHardware(host.Reference(), hs)
			hosts[hs.Name] = host
			pools[hs.Name] = pool
			if dvs != nil {
				member := &types.DVSConfigSpec{Host: []types.DistributedVirtualSwitchHostMemberConfigSpec{{
					Operation: string(types.ConfigSpecOperationAdd),
					Host:      host.Reference(),
				}}}
				if err := wait(dvs.Reconfigure(ctx, member)); err != nil {
					return fmt.Errorf("join %s to the switch: %w", hs.Name, err)
				}
			}
		}
	}

	datastores := map[string]types.ManagedObjectReference{}
	dirs := map[string]string{}
	for _, ds := range spec.Datastores {
		dirs[ds.Name] = ds.Dir
		for _, host := range hosts {
			dss, err := host.ConfigManager().DatastoreSystem(ctx)
			if err != nil {
				return err
			}
			created, err := dss.CreateLocalDatastore(ctx, ds.Name, ds.Dir)
			if err != nil {
				return fmt.Errorf("datastore %s: %w", ds.Name, err)
			}
			datastores[ds.Name] = created.Reference()
		}
	}

	fields := object.NewCustomFieldsManager(c.Client)
	keys := map[string]int32{}
	for _, name := range spec.Attributes {
		def, err := fields.Add(ctx, name, "VirtualMachine", nil, nil)
		if err != nil {
			return fmt.Errorf("custom attribute %s: %w", name, err)
		}
		keys[name] = def.Key
	}

	for i := range spec.VMs {
		if err := buildVM(ctx, c, folders, hosts, pools, datastores, dirs, portgroups, fields, keys, &spec.VMs[i]); err != nil {
			return fmt.Errorf("vm %s: %w", spec.VMs[i].Name, err)
		}
	}
	for _, ds := range spec.Datastores {
		shareDatastore(datastores[ds.Name], ds, hosts, spec.VMs)
	}
	return nil
}

// shareDatastore makes a datastore what a SAN LUN is: mounted by every host, with the
// capacity of the seed and the space the VMs' disks take. The simulator keeps one host per
// datastore and reports the capacity of the file system it lives on.
func shareDatastore(ref types.ManagedObjectReference, seed datastoreSeed, hosts map[string]*object.HostSystem, vms []vmSeed) {
	ds := simulator.Map.Get(ref).(*simulator.Datastore)
	var usedKB int64
	for _, vm := range vms {
		for _, d := range vm.Disks {
			if d.Datastore == seed.Name {
				usedKB += d.CapacityKB
			}
		}
	}
	simulator.Map.WithLock(ds, func() {
		mounts := make([]types.DatastoreHostMount, 0, len(hosts))
		for _, host := range hosts {
			mounts = append(mounts, types.DatastoreHostMount{
				Key: host.Reference(),
				MountInfo: types.HostMountInfo{
					Path: seed.Dir, AccessMode: string(types.HostMountModeReadWrite),
					Mounted: types.NewBool(true), Accessible: types.NewBool(true),
				},
			})
		}
		ds.Host = mounts
		if seed.CapacityGB > 0 {
			capacity := seed.CapacityGB << 30
			ds.Summary.Capacity = capacity
			ds.Summary.FreeSpace = capacity - usedKB*1024
			ds.Info.GetDatastoreInfo().FreeSpace = ds.Summary.FreeSpace
		}
		ds.Summary.Type = "VMFS"
		ds.Summary.MultipleHostAccess = types.NewBool(true)
	})
}

func buildNetworks(ctx context.Context, c *govmomi.Client, folders *object.DatacenterFolders, spec *seed) (
	*object.DistributedVirtualSwitch, map[string]types.BaseVirtualDeviceBackingInfo, error) {
	portgroups := map[string]types.BaseVirtualDeviceBackingInfo{}
	if len(spec.Networks) == 0 {
		return nil, portgroups, nil
	}
	var create types.DVSCreateSpec
	create.ConfigSpec = &types.VMwareDVSConfigSpec{}
	create.ConfigSpec.GetDVSConfigSpec().Name = spec.Switch
	task, err := folders.NetworkFolder.CreateDVS(ctx, create)
	if err != nil {
		return nil, nil, err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("switch %s: %w", spec.Switch, err)
	}
	dvs := object.NewDistributedVirtualSwitch(c.Client, info.Result.(types.ManagedObjectReference))
	for _, name := range spec.Networks {
		if err := wait(dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{{Name: name, NumPorts: 256}})); err != nil {
			return nil, nil, fmt.Errorf("portgroup %s: %w", name, err)
		}
		pg, err := find.NewFinder(c.Client, false).Network(ctx, folders.NetworkFolder.InventoryPath+"/"+name)
		if err != nil {
			return nil, nil, fmt.Errorf("portgroup %s: %w", name, err)
		}
		backing, err := pg.EthernetCardBackingInfo(ctx)
		if err != nil {
			return nil, nil, err
		}
		portgroups[name] = backing
	}
	return dvs, portgroups, nil
}

// setHardware gives a host the CPU and memory of its seed. The API has no call for hardware
// (it is what the server is), so the simulator's object is edited before anyone connects.
func setHardware(ref types.ManagedObjectReference, hs hostSeed) {
	host := simulator.Map.Get(ref).(*simulator.HostSystem)
	simulator.Map.WithLock(host, func() {
		threads := hs.Sockets * hs.Cores * hs.Threads
		hz := hs.MHz * 1000 * 1000
		packages := make([]types.HostCpuPackage, 0, hs.Sockets)
		for i := int16(0); i < hs.Sockets; i++ {
			packages = append(packages, types.HostCpuPackage{
				Index: i, Vendor: hs.CPUVendor, Hz: hz, Description: hs.CPUModel,
			})
		}
		hw := *host.Hardware // a copy: the simulator shares its template between hosts
		hw.CpuPkg = packages
		hw.CpuInfo = types.HostCpuInfo{
			NumCpuPackages: hs.Sockets, NumCpuCores: hs.Sockets * hs.Cores, NumCpuThreads: threads, Hz: hz,
		}
		hw.MemorySize = hs.MemoryMB * 1024 * 1024
		hw.SystemInfo.Vendor = hs.Vendor
		hw.SystemInfo.Model = hs.Model
		host.Hardware = &hw
		summary := *host.Summary.Hardware
		summary.CpuModel = hs.CPUModel
		summary.CpuMhz = int32(hs.MHz)
		summary.NumCpuPkgs = hs.Sockets
		summary.NumCpuCores = hs.Sockets * hs.Cores
		summary.NumCpuThreads = threads
		summary.MemorySize = hw.MemorySize
		summary.Vendor = hs.Vendor
		summary.Model = hs.Model
		host.Summary.Hardware = &summary
		if hs.ProductName != "" && host.Config != nil && host.Config.Product.FullName != "" {
			product := host.Config.Product
			product.FullName = hs.ProductName
			if fields := strings.Fields(hs.ProductName); len(fields) >= 3 {
				product.Version = fields[2]
			}
			host.Config.Product = product
		}
	})
}

func buildVM(ctx context.Context, c *govmomi.Client, folders *object.DatacenterFolders,
	hosts map[string]*object.HostSystem, pools map[string]*object.ResourcePool,
	datastores map[string]types.ManagedObjectReference, dirs map[string]string,
	portgroups map[string]types.BaseVirtualDeviceBackingInfo,
	fields *object.CustomFieldsManager, keys map[string]int32, vs *vmSeed) error {
	host, ok := hosts[vs.Host]
	if !ok {
		return fmt.Errorf("no host %s", vs.Host)
	}
	if len(vs.Disks) == 0 {
		return fmt.Errorf("no disk")
	}
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return err
	}
	devices = append(devices, scsi)
	changes := []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: scsi},
	}
	for _, d := range vs.Disks {
		ds, ok := datastores[d.Datastore]
		if !ok {
			return fmt.Errorf("no datastore %s", d.Datastore)
		}
		disk := devices.CreateDisk(scsi.(types.BaseVirtualController), ds, fmt.Sprintf("[%s] %s", d.Datastore, d.Path))
		disk.CapacityInKB = d.CapacityKB
		disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).ThinProvisioned = types.NewBool(d.Thin)
		devices = append(devices, disk)
		// No file operation: the disk file exists (a real VMDK made by qemu-img); attach it.
		changes = append(changes, &types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: disk,
		})
	}
	if backing, ok := portgroups[vs.Network]; ok {
		nic, err := devices.CreateEthernetCard("vmxnet3", backing)
		if err != nil {
			return err
		}
		changes = append(changes, &types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: nic,
		})
	}
	config := types.VirtualMachineConfigSpec{
		Name:         vs.Name,
		GuestId:      vs.GuestID,
		NumCPUs:      vs.CPUs,
		MemoryMB:     vs.MemoryMB,
		Files:        &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s] %s", vs.Disks[0].Datastore, filepath.Dir(vs.Disks[0].Path))},
		DeviceChange: changes,
	}
	// 0.24.2 attaches an existing disk only when it finds "<name>-flat.vmdk" beside it, the
	// layout of a thick ESXi disk; ours are monolithic sparse files, which have no such extent.
	var companions []string
	for _, d := range vs.Disks {
		flat := filepath.Join(dirs[d.Datastore], strings.Replace(d.Path, ".vmdk", "-flat.vmdk", 1))
		if f, err := os.OpenFile(flat, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
			_ = f.Close()
			companions = append(companions, flat)
		}
	}
	task, err := folders.VmFolder.CreateVM(ctx, config, pools[vs.Host], host)
	var info *types.TaskInfo
	if err == nil {
		info, err = task.WaitForResult(ctx, nil)
	}
	for _, flat := range companions {
		_ = os.Remove(flat)
	}
	if err != nil {
		return err
	}
	ref := info.Result.(types.ManagedObjectReference)
	vm := object.NewVirtualMachine(c.Client, ref)
	setGuestName(ref, vs)
	for name, value := range vs.Attributes {
		key, ok := keys[name]
		if !ok {
			return fmt.Errorf("attribute %s is not declared", name)
		}
		if err := fields.Set(ctx, ref, key, value); err != nil {
			return err
		}
	}
	var extra []types.BaseOptionValue
	if vs.IP != "" {
		extra = append(extra, &types.OptionValue{Key: "SET.guest.ipAddress", Value: vs.IP})
	}
	if vs.GuestHostName != "" {
		extra = append(extra, &types.OptionValue{Key: "SET.guest.hostName", Value: vs.GuestHostName})
	}
	if len(extra) > 0 {
		if err := wait(vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: extra})); err != nil {
			return fmt.Errorf("guest info: %w", err)
		}
	}
	if vs.PowerOn {
		if err := wait(vm.PowerOn(ctx)); err != nil {
			return fmt.Errorf("power on: %w", err)
		}
	}
	return nil
}

// setGuestName sets what VMware Tools would report: the simulator copies the guest id into the
// full name, where vCenter shows the OS's own name ("CentOS 7 (64-bit)").
func setGuestName(ref types.ManagedObjectReference, vs *vmSeed) {
	vm := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	simulator.Map.WithLock(vm, func() {
		vm.Config.GuestFullName = vs.GuestFullName
		vm.Summary.Config.GuestFullName = vs.GuestFullName
		if vm.Guest != nil {
			vm.Guest.GuestId = vs.GuestID
			vm.Guest.GuestFullName = vs.GuestFullName
		}
		if vm.Summary.Guest != nil {
			vm.Summary.Guest.GuestId = vs.GuestID
			vm.Summary.Guest.GuestFullName = vs.GuestFullName
		}
	})
}

func wait(task *object.Task, err error) error {
	if err != nil {
		return err
	}
	return task.Wait(context.Background())
}
